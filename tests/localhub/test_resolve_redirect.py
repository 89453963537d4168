"""Resolve like production (hub-bucket-api.md §4.12): a 302 carrying the metadata, to a signed,
expiring, token-free URL on another origin (the local Hub's CDN port), with Range support and the
bytes pinned to the file's Xet hash at redirect time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from huggingface_hub import HfApi, HfFileSystem

from hf_bucket_sink.localhub import cdn_routes

BUCKET = "local/b"
DATA = os.urandom(250_000)


@pytest.fixture
def seeded(hf_api: HfApi) -> HfApi:
    hf_api.create_bucket("b")
    hf_api.batch_bucket_files(BUCKET, add=[(DATA, "dir/data.bin"), (b"", "dir/empty.txt")])
    return hf_api


def _location(hub: Any, path: str = "dir/data.bin", method: str = "HEAD") -> httpx2.Response:
    resp = httpx2.request(method, f"{hub.url}/buckets/{BUCKET}/resolve/{path}",
                          headers={"Authorization": f"Bearer {hub.token}"}, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    return resp


def _auth_headers(requests: list[dict[str, Any]]) -> list[str]:
    return [v for r in requests for k, v in r["headers"].items() if k.lower() == "authorization"]


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_resolve_redirects_to_another_origin_with_the_metadata(seeded: HfApi, local_hub: Any, method: str) -> None:
    resp = _location(local_hub, method=method)
    target = urlsplit(resp.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == local_hub.cdn_url
    assert target.port != urlsplit(local_hub.url).port  # another origin: httpx drops Authorization
    (info,) = seeded.get_bucket_paths_info(BUCKET, ["dir/data.bin"])
    assert resp.headers["X-Xet-Hash"] == info.xet_hash and target.path == f"/files/{info.xet_hash}"
    assert resp.headers["X-Linked-Size"] == str(len(DATA))
    assert resp.headers["Link"] == f'<{local_hub.url}/api/buckets/{BUCKET}/xet-read-token>; rel="xet-auth"'
    assert resp.headers["ETag"] == f'"{info.xet_hash}"'


def test_empty_files_are_answered_directly(seeded: HfApi, local_hub: Any) -> None:
    resp = httpx2.head(f"{local_hub.url}/buckets/{BUCKET}/resolve/dir/empty.txt",
                       headers={"Authorization": f"Bearer {local_hub.token}"})
    assert resp.status_code == 200 and resp.headers["X-Xet-Hash"] == "0" * 64 and "Location" not in resp.headers


def test_huggingface_hub_metadata_and_downloads(seeded: HfApi, local_hub: Any, tmp_path: Path) -> None:
    meta = seeded.get_bucket_file_metadata(BUCKET, "dir/data.bin")
    assert meta.size == len(DATA)
    assert meta.xet_file_data.refresh_route == f"{local_hub.url}/api/buckets/{BUCKET}/xet-read-token"
    seeded.download_bucket_files(BUCKET, [("dir/data.bin", str(tmp_path / "d.bin")),
                                          ("dir/empty.txt", str(tmp_path / "e.txt"))])
    assert (tmp_path / "d.bin").read_bytes() == DATA and (tmp_path / "e.txt").read_bytes() == b""
    # hf_xet fetched the xorb bytes from the CDN origin too, without a token
    cdn = local_hub.cdn_requests()
    assert any("/xorb-data/" in r["path"] for r in cdn) and _auth_headers(cdn) == []


def test_hffilesystem_and_httpx_follow_the_redirect_without_the_token(seeded: HfApi, local_hub: Any) -> None:
    fs = HfFileSystem(endpoint=local_hub.url, token=local_hub.token)
    with fs.open(f"buckets/{BUCKET}/dir/data.bin", block_size=10_000) as f:
        f.seek(123_456)
        assert f.read(5000) == DATA[123_456:128_456]
    assert fs.cat(f"buckets/{BUCKET}/dir/data.bin") == DATA
    resp = httpx2.get(f"{local_hub.url}/buckets/{BUCKET}/resolve/dir/data.bin", follow_redirects=True,
                      headers={"Authorization": f"Bearer {local_hub.token}", "Range": "bytes=100-199"})
    assert resp.status_code == 206 and resp.content == DATA[100:200] and [r.status_code for r in resp.history] == [302]
    cdn = [r for r in local_hub.cdn_requests() if r["path"].startswith("/files/")]
    assert len(cdn) >= 3 and any(
        k.lower() == "range" for r in cdn for k in r["headers"]
    ), "the ranged reads reached the CDN origin"
    assert _auth_headers(cdn) == [], "a token reached the signed URL"


def test_signed_url_needs_no_token_and_supports_range(seeded: HfApi, local_hub: Any) -> None:
    url = _location(local_hub).headers["Location"]
    assert httpx2.get(url).content == DATA
    part = httpx2.get(url, headers={"Range": "bytes=-7"})
    assert part.status_code == 206 and part.content == DATA[-7:]
    assert part.headers["Content-Range"] == f"bytes {len(DATA) - 7}-{len(DATA) - 1}/{len(DATA)}"
    assert httpx2.get(url, headers={"Range": f"bytes={len(DATA)}-"}).status_code == 416
    head = httpx2.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(DATA))
    assert "X-Xet-Hash" not in head.headers  # the CDN's own answer carries no Hub metadata


def test_altered_or_expired_signatures_are_refused(
    seeded: HfApi, local_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _location(local_hub).headers["Location"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    base = f"{parts.scheme}://{parts.netloc}"
    assert httpx2.get(url, headers={"Range": "bytes=0-0"}).status_code == 206  # the untouched URL works
    for key, value in (("s", query["s"][:-2] + "AA"), ("e", str(int(query["e"]) + 3600)), ("ct", "text/html")):
        altered = f"{base}{parts.path}?{urlencode({**query, key: value})}"
        assert httpx2.get(altered).status_code == 403, key
    other_hash = f"{base}/files/{'ab' * 32}?{parts.query}"
    assert httpx2.get(other_hash).status_code == 403

    class Later:  # the CDN's clock, one TTL and a bit later
        @staticmethod
        def time() -> float:
            return time.time() + 3600 + 5

    monkeypatch.setattr(cdn_routes, "time", Later)
    expired = httpx2.get(url)
    assert expired.status_code == 403 and "expired" in expired.headers["X-Error-Message"]


def test_signed_url_is_pinned_to_the_bytes_at_redirect_time(seeded: HfApi, local_hub: Any) -> None:
    url = _location(local_hub).headers["Location"]
    new = os.urandom(50_000)
    seeded.batch_bucket_files(BUCKET, add=[(new, "dir/data.bin")])  # overwrite after the redirect
    assert httpx2.get(url).content == DATA
    fresh = httpx2.get(f"{local_hub.url}/buckets/{BUCKET}/resolve/dir/data.bin", follow_redirects=True,
                       headers={"Authorization": f"Bearer {local_hub.token}"})
    assert fresh.content == new


def test_each_origin_serves_only_its_own_routes(seeded: HfApi, local_hub: Any) -> None:
    url = _location(local_hub).headers["Location"]
    path = url.removeprefix(local_hub.cdn_url)
    assert httpx2.get(f"{local_hub.url}{path}").status_code == 404
    assert httpx2.get(f"{local_hub.cdn_url}/api/whoami-v2",
                      headers={"Authorization": f"Bearer {local_hub.token}"}).status_code == 404


def test_signed_url_ttl_is_configurable(local_hub_factory: Any) -> None:
    hub = local_hub_factory(signed_url_ttl=90)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    api.batch_bucket_files(BUCKET, add=[(b"x" * 10, "x")])
    before = time.time()
    exp = int(parse_qs(urlsplit(_location(hub, "x").headers["Location"]).query)["e"][0])
    assert before + 89 <= exp <= time.time() + 91
