"""Byte-level protocol checks with raw HTTP: corrupted or dangling uploads, grants, ranges, bad paths."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError

from hf_bucket_sink.localhub.hashing import (
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    verification_hash,
    xorb_hash,
)
from hf_bucket_sink.localhub.shard import ShardChunk, ShardFile, ShardXorb, Term, build_shard
from hf_bucket_sink.localhub.xorb import serialize_xorb

CHUNKS = [os.urandom(40_000), b"a" * 70_000, bytes(range(256)) * 100]


@pytest.fixture
def cas(hf_api: HfApi, raw_http: Any) -> tuple[str, str]:
    """(write CAS token, CAS path prefix) for bucket local/b."""
    hf_api.create_bucket("b")
    body = raw_http.request("GET", "/api/buckets/local/b/xet-write-token", token=hf_api.token).json()
    return body["accessToken"], urlsplit(body["casUrl"]).path


def _xorb(chunks: list[bytes], scheme: int = 0) -> tuple[str, bytes, list[bytes]]:
    hashes = [chunk_hash(c) for c in chunks]
    return hash_to_hex(xorb_hash([(h, len(c)) for h, c in zip(hashes, chunks)])), serialize_xorb(chunks, scheme), hashes


def _shard_for(chunks: list[bytes], xorb_raw: bytes, hashes: list[bytes], *, list_xorb: bool = True) -> tuple[str, bytes]:
    sizes = [len(c) for c in chunks]
    term = Term(xorb_raw, sum(sizes), 0, len(chunks), verification_hash(hashes))
    fhash = file_hash(list(zip(hashes, sizes)))
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    sx = ShardXorb(xorb_raw, tuple(ShardChunk(h, s, n) for h, s, n in zip(hashes, starts, sizes)), sum(sizes))
    return hash_to_hex(fhash), build_shard([ShardFile(fhash, (term,), None)], [sx] if list_xorb else [])


def _batch(raw_http: Any, token: str, ops: list[dict[str, Any]], bucket: str = "local/b") -> Any:
    body = "".join(json.dumps(op) + "\n" for op in ops)
    return raw_http.request(
        "POST", f"/api/buckets/{bucket}/batch", body, {"Content-Type": "application/x-ndjson"}, token=token
    )


def _stored_files(hub: Any) -> list[Path]:
    return [p for sub in ("xorbs", "tmp") for p in (Path(hub.data_dir) / sub).rglob("*") if p.is_file()]


def test_corrupted_xorb_is_rejected_and_leaves_nothing(local_hub: Any, raw_http: Any, cas: tuple[str, str]) -> None:
    token, prefix = cas
    name, body, _ = _xorb(CHUNKS)
    corrupted = bytearray(body)
    corrupted[100] ^= 0xFF
    for bad_name, bad_body in [
        (name, bytes(corrupted)),  # payload flipped: hash mismatch
        (name, body[:-5]),  # truncated
        (name, body + b"\x00" * 3),  # trailing garbage
        (hash_to_hex(os.urandom(32)), body),  # URL names another xorb
        ("not-a-hash", body),
    ]:
        resp = raw_http.request("POST", f"{prefix}/v1/xorbs/default/{bad_name}", bad_body, token=token)
        assert resp.status == 400, resp.body
        assert "error" in resp.json()
    assert _stored_files(local_hub) == []
    stats = local_hub.stats()
    assert stats["xorbs_stored"] == 0 and stats["catalog"]["xorbs"] == 0
    assert stats["xorbs_rejected"] == 4  # the malformed hash is refused before the body is read


@pytest.mark.parametrize("scheme", [0, 1, 2])
def test_direct_upload_every_scheme_then_read_back(
    local_hub: Any, raw_http: Any, cas: tuple[str, str], hf_api: HfApi, scheme: int
) -> None:
    token, prefix = cas
    name, body, hashes = _xorb(CHUNKS, scheme)
    resp = raw_http.request("POST", f"{prefix}/v1/xorbs/default/{name}", body, token=token)
    assert (resp.status, resp.json()) == (200, {"was_inserted": True})
    resp = raw_http.request("POST", f"{prefix}/v1/xorbs/default/{name}", body, token=token)
    assert resp.json() == {"was_inserted": False}
    assert raw_http.request("HEAD", f"{prefix}/v1/xorbs/default/{name}", token=token).headers["Content-Length"] == str(
        len(body)
    )
    fhex, shard = _shard_for(CHUNKS, hex_to_hash(name), hashes)
    assert raw_http.request("POST", f"{prefix}/v1/shards", shard, token=token).json() == {"result": 1}
    assert raw_http.request("POST", f"{prefix}/v1/shards", shard, token=token).json() == {"result": 0}
    _batch(raw_http, hf_api.token, [{"type": "addFile", "path": "f.bin", "xetHash": fhex, "mtime": 5}])
    whole = b"".join(CHUNKS)
    resp = raw_http.request("GET", "/buckets/local/b/resolve/f.bin", follow_redirects=True)
    assert (resp.status, resp.body) == (200, whole)
    resp = raw_http.request("GET", "/buckets/local/b/resolve/f.bin", headers={"Range": "bytes=39990-110010"},
                            follow_redirects=True)
    assert resp.status == 206 and resp.body == whole[39990:110011]
    assert resp.headers["Content-Range"] == f"bytes 39990-110010/{len(whole)}"


def test_grant_flow(local_hub: Any, raw_http: Any, cas: tuple[str, str]) -> None:
    token, prefix = cas
    name, body, _ = _xorb(CHUNKS, 1)
    req = json.dumps({"length": len(body), "checksum": {"algo": "crc64nvme", "value": "1"}})
    resp = raw_http.request("POST", f"{prefix}/v1/xorb-grants/default/{name}", req, token=token)
    assert resp.status == 201
    grant = resp.json()
    assert set(grant) == {"id", "method", "url", "headers"} and grant["method"] == "PUT"
    upload = urlsplit(grant["url"]).path
    commit = f"{prefix}/v1/xorb-commits/default/{name}/grant/{grant['id']}"
    assert raw_http.request("POST", commit, token=token).status == 404  # nothing uploaded yet
    assert raw_http.request("PUT", upload, body[:-1]).status == 400  # wrong length
    bad = bytearray(body)
    bad[-1] ^= 1
    assert raw_http.request("PUT", upload, bytes(bad)).status == 400  # corrupted
    assert raw_http.request("POST", commit, token=token).status == 404
    assert raw_http.request("PUT", "/cas/x/grant-uploads/nope", body).status == 404  # wrong store
    assert raw_http.request("PUT", f"{prefix}/grant-uploads/unknown-grant", body).status == 403
    assert raw_http.request("PUT", upload, body).status == 200  # no Authorization needed
    assert local_hub.stats()["catalog"]["xorbs"] == 0  # staged, not visible before the commit
    resp = raw_http.request("POST", commit, token=token)
    assert (resp.status, resp.json()) == (200, {"was_inserted": True})
    assert raw_http.request("POST", commit, token=token).status == 404  # grant consumed
    again = raw_http.request("POST", f"{prefix}/v1/xorb-grants/default/{name}", req, token=token)
    assert (again.status, again.body) == (200, b"")  # already stored
    assert [p.name for p in _stored_files(local_hub)] == [name]


def test_shard_with_unknown_xorb_is_rejected(local_hub: Any, raw_http: Any, cas: tuple[str, str]) -> None:
    token, prefix = cas
    name, body, hashes = _xorb(CHUNKS)
    # 1. the xorb was never uploaded: both as a term and as a CAS-info entry
    for list_xorb in (True, False):
        _, shard = _shard_for(CHUNKS, hex_to_hash(name), hashes, list_xorb=list_xorb)
        resp = raw_http.request("POST", f"{prefix}/v1/shards", shard, token=token)
        assert resp.status == 400 and "never uploaded" in resp.json()["error"]
        resp = raw_http.request("POST", f"{prefix}/v2/shards", shard, token=token)
        lines = [json.loads(x) for x in resp.body.splitlines()]
        assert resp.status == 200 and lines[-1]["type"] == "error" and lines[-1]["retryable"] is False
    # 2. the xorb exists but the verification hash is wrong, or the shard is garbage
    assert raw_http.request("POST", f"{prefix}/v1/xorbs/default/{name}", body, token=token).status == 200
    sizes = [len(c) for c in CHUNKS]
    fhash = file_hash(list(zip(hashes, sizes)))
    forged = ShardFile(fhash, (Term(hex_to_hash(name), sum(sizes), 0, len(CHUNKS), os.urandom(32)),), None)
    for bad in (build_shard([forged], []), b"not a shard" * 10):
        assert raw_http.request("POST", f"{prefix}/v1/shards", bad, token=token).status == 400
    stats = local_hub.stats()
    assert stats["catalog"]["reconstructions"] == 1  # only the built-in empty file
    assert stats["shards_rejected"] == 6 and stats["catalog"]["shards"] == 0
    # 3. addFile of a hash nobody registered -> failed entry (422: every line failed)
    resp = _batch(raw_http, local_hub.token, [{"type": "addFile", "path": "x", "xetHash": hash_to_hex(fhash)}])
    assert resp.status == 422 and "unknown xetHash" in resp.json()["failed"][0]["error"]


def test_reconstruction_v1_v2_and_data_urls(
    local_hub: Any, raw_http: Any, cas: tuple[str, str], make_raw_http: Any
) -> None:
    token, prefix = cas
    name, body, hashes = _xorb(CHUNKS, 2)
    raw_http.request("POST", f"{prefix}/v1/xorbs/default/{name}", body, token=token)
    fhex, shard = _shard_for(CHUNKS, hex_to_hash(name), hashes)
    v2 = raw_http.request("POST", f"{prefix}/v2/shards", shard, token=token)
    assert json.loads(v2.body.splitlines()[-1])["type"] == "result"
    whole = b"".join(CHUNKS)
    size = len(whole)
    # mid-chunk range covering chunks 1..2 only: trimmed at chunk granularity
    r2 = raw_http.request("GET", f"{prefix}/v2/reconstructions/{fhex}", headers={"Range": "bytes=50000-120000"}, token=token)
    plan = r2.json()
    assert plan["offset_into_first_range"] == 50000 - 40000
    assert plan["terms"] == [{"hash": name, "unpacked_length": 70_000 + 25_600, "range": {"start": 1, "end": 3}}]
    [entry] = plan["xorbs"][name]
    [desc] = entry["ranges"]
    assert desc["chunks"] == {"start": 1, "end": 3}
    data_url = urlsplit(entry["url"])
    data_path = f"{data_url.path}?{data_url.query}"
    # data URLs live on the CDN origin (another port), like production's presigned storage URLs
    assert f"{data_url.scheme}://{data_url.netloc}" == local_hub.cdn_url != local_hub.url
    assert raw_http.request("GET", data_path).status == 404  # not served on the Hub origin
    cdn = make_raw_http(local_hub.cdn_url)
    got = cdn.request("GET", data_path, headers={"Range": f"bytes={desc['bytes']['start']}-{desc['bytes']['end']}"})
    assert got.status == 206 and got.body == body[desc["bytes"]["start"] : desc["bytes"]["end"] + 1]
    r1 = raw_http.request("GET", f"{prefix}/v1/reconstructions/{fhex}", headers={"Range": f"bytes=0-{size + 99}"}, token=token)
    [fetch] = r1.json()["fetch_info"][name]
    assert fetch["range"] == {"start": 0, "end": 3} and fetch["url_range"] == {"start": 0, "end": len(body) - 1}
    too_far = raw_http.request("GET", f"{prefix}/v1/reconstructions/{fhex}", headers={"Range": f"bytes={size}-"}, token=token)
    assert too_far.status == 416 and too_far.headers["Content-Range"] == f"bytes */{size}"
    assert raw_http.request("GET", f"{prefix}/v2/reconstructions/{'ab' * 32}", token=token).status == 404
    # data URLs authorise themselves: a tampered signature is refused with 403
    assert cdn.request("GET", data_path.replace("s=", "s=x"), headers={"Range": "bytes=0-9"}).status == 403
    multi = cdn.request("GET", data_path, headers={"Range": "bytes=0-9,20-29"})
    assert multi.status == 206 and multi.headers["Content-Type"].startswith("multipart/byteranges")
    assert body[0:10] in multi.body and body[20:30] in multi.body


def test_resolve_ranges_head_and_encoded_paths(hf_api: HfApi, raw_http: Any, local_hub: Any) -> None:
    hf_api.create_bucket("b")
    data = os.urandom(100_000)
    hf_api.batch_bucket_files("local/b", add=[(data, "dir/a b.bin"), (b"", "dir/empty")])
    for path in ("dir/a%20b.bin", quote("dir/a b.bin", safe="")):  # plain and %2F-encoded
        assert raw_http.request("GET", f"/buckets/local/b/resolve/{path}", follow_redirects=True).body == data
    ranged = raw_http.request("GET", "/buckets/local/b/resolve/dir/a%20b.bin", headers={"Range": "bytes=-10"},
                             follow_redirects=True)
    assert ranged.status == 206 and ranged.body == data[-10:]
    open_end = raw_http.request("GET", "/buckets/local/b/resolve/dir/a%20b.bin", headers={"Range": "bytes=99990-"},
                               follow_redirects=True)
    assert open_end.body == data[99990:]
    past = raw_http.request("GET", "/buckets/local/b/resolve/dir/a%20b.bin", headers={"Range": "bytes=100000-"},
                           follow_redirects=True)
    assert past.status == 416 and past.headers["Content-Range"] == "bytes */100000"
    head = raw_http.request("HEAD", "/buckets/local/b/resolve/dir%2Fempty")
    assert head.status == 200 and head.headers["X-Xet-Hash"] == "0" * 64
    assert head.headers["X-Linked-Size"] == "0" and head.headers["Content-Length"] == "0"
    assert head.headers["Link"] == f'<{local_hub.url}/api/buckets/local/b/xet-read-token>; rel="xet-auth"'
    assert raw_http.request("GET", "/buckets/local/b/resolve/dir/empty").body == b""
    missing = raw_http.request("GET", "/buckets/local/b/resolve/dir/missing")
    assert missing.status == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"


BAD_PATHS = [
    "../escape.txt", "a/../../b", "a//b", "/abs.txt", "dir/", "a\\b.txt", "nul\x00.txt", "ctl\x01.txt",
    "tab\tname", "./x", "a/./b", "x" * 1025, "é" * 513,
]


def test_bad_paths_are_rejected_in_batch(hf_api: HfApi, raw_http: Any) -> None:
    hf_api.create_bucket("b")
    hf_api.batch_bucket_files("local/b", add=[(b"ok", "ok.txt")])
    [ok] = list(hf_api.list_bucket_tree("local/b"))
    ops = [{"type": "addFile", "path": p, "xetHash": ok.xet_hash} for p in BAD_PATHS]
    ops += [{"type": "deleteFile", "path": "../ok.txt"}]
    resp = _batch(raw_http, hf_api.token, ops)
    assert resp.status == 422
    report = resp.json()
    assert report["processed"] == len(ops) and report["succeeded"] == 0
    assert [f["path"] for f in report["failed"]] == [op["path"] for op in ops]
    assert all("invalid path" in f["error"] for f in report["failed"])
    assert [f.path for f in hf_api.list_bucket_tree("local/b")] == ["ok.txt"]
    # other per-line problems are failed entries too
    resp = _batch(raw_http, hf_api.token, [
        {"type": "addFile", "path": "ct.txt", "xetHash": ok.xet_hash, "contentType": "text/plain\r\nX-Evil: 1"},
        {"type": "addFile", "path": "mt.txt", "xetHash": ok.xet_hash, "mtime": 10**20},
        {"type": "addFile", "path": "mt2.txt", "xetHash": ok.xet_hash, "mtime": "yesterday"},
        {"type": "addFile", "path": "h.txt", "xetHash": "xyz"},
        {"type": "addFile", "path": "good.txt", "xetHash": ok.xet_hash, "contentType": "text/plain; charset=utf-8"},
    ])
    assert resp.status == 200 and [f["path"] for f in resp.json()["failed"]] == ["ct.txt", "mt.txt", "mt2.txt", "h.txt"]
    good = raw_http.request("HEAD", "/buckets/local/b/resolve/good.txt")
    assert good.headers["Content-Type"] == "text/plain; charset=utf-8"
    hf_api.batch_bucket_files("local/b", delete=["good.txt"])
    # malformed NDJSON is refused as a whole, nothing applied
    for body in ("not json\n", '["a list"]\n', '{"type": "rename", "path": "x"}\n', '{"type": "deleteFile"}\n'):
        r = raw_http.request("POST", "/api/buckets/local/b/batch", body + '{"type":"deleteFile","path":"ok.txt"}\n',
                             token=hf_api.token)
        assert r.status == 400, body
    assert [f.path for f in hf_api.list_bucket_tree("local/b")] == ["ok.txt"]


def test_bad_paths_are_rejected_in_resolve_and_tree(hf_api: HfApi, raw_http: Any) -> None:
    hf_api.create_bucket("b")
    for raw_path in ("..%2Fetc%2Fpasswd", "a%2F..%2Fb", "a%2F%2Fb", "%2Fabs", "x%00y", "a%5Cb", "c%01", "x" * 1100):
        assert raw_http.request("GET", f"/buckets/local/b/resolve/{raw_path}").status == 400, raw_path
        assert raw_http.request("HEAD", f"/buckets/local/b/resolve/{raw_path}").status == 400, raw_path
        assert raw_http.request("GET", f"/api/buckets/local/b/tree/{raw_path}").status == 400, raw_path
    assert raw_http.request("GET", "/buckets/local/b/resolve/%FF%FE").status == 400  # not UTF-8


@pytest.mark.parametrize("name", ["bad--name", "-lead", "trail.", "sp ace", "x" * 97, "a..b", "repo.git", "ü"])
def test_invalid_bucket_names(hf_api: HfApi, name: str) -> None:
    with pytest.raises(BadRequestError):
        hf_api.create_bucket(quote(name, safe=""))


def _raw_exchange(hub: Any, request: bytes) -> bytes:
    import socket

    with socket.create_connection((urlsplit(hub.url).hostname, urlsplit(hub.url).port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):  # the server closes the connection after these answers
            chunks.append(data)
    return b"".join(chunks)


def test_oversized_and_chunked_bodies_close_the_connection(local_hub: Any, cas: tuple[str, str]) -> None:
    token, prefix = cas
    head = f"POST {prefix}/v1/xorbs/default/{'ab' * 32} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
    answer = _raw_exchange(local_hub, (head + "Content-Length: 999999999999\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
    answer = _raw_exchange(local_hub, (head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 411") and b"Connection: close" in answer
