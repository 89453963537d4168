"""Xet CAS routes of the local Hub, as ``hf_xet`` 1.8.0 uses them with its default configuration.

All live under ``/cas/<store id>`` (the ``casUrl`` handed out by the Hub's token routes), except
telemetry, which the client always posts to the origin. Covered (``xet-cas-protocol.md``):
global-dedup queries (§3.1, answered from a chunk index with a footer'd shard), the upload-grant
flow (§3.2–3.4: grant, PUT to a URL on this server authorised by the unguessable grant id,
commit), direct xorb upload (§3.5), shard upload v2 (NDJSON) and v1 (§3.6–3.7), reconstruction v1
and v2 (§5) with signed, self-authorising data URLs (§6) served here with ``sendfile``.

Grant checks: the PUT must carry exactly the announced ``length``; its body is fully verified
(hash recomputed from every chunk) before it is staged; the commit publishes it. The CRC-64/NVME
checksum is recorded but not verified (no compiled CRC-64/NVME in the dependencies; the hash check
is strictly stronger).

Example (what hf_xet does)::

    POST {casUrl}/v1/xorb-grants/default/<xorb>   -> 201 {"id", "method": "PUT", "url", "headers"}
    PUT  <url>                                      -> 200
    POST {casUrl}/v1/xorb-commits/default/<xorb>/grant/<id> -> 200 {"was_inserted": true}
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from .routing import Route, route
from .auth import CasPrincipal
from .cas import FileReconstruction, Plan
from .hashing import hex_to_hash
from .http import FileRange, Request, Response, parse_ranges
from .state import HubState
from .wire import bad_request, forbidden, not_found
from .xorb import MAX_SERIALIZED_XORB_BYTES, XorbInfo

__all__ = ["ROUTES"]

_CAS = r"^/cas/(?P<store>[^/]+)"
_H = r"(?P<hash>[^/]+)"
_XORB_MAX_BODY = MAX_SERIALIZED_XORB_BYTES
#: hf_xet cuts shards at a 64 MiB target; twice that leaves room without accepting anything huge.
_SHARD_MAX_BODY = 128 << 20
#: hf_xet's telemetry summary is about 1.3 KB.
_TELEMETRY_MAX_BODY = 256 << 10
#: Lifetime of the signed data URLs in reconstruction answers (a 403 makes the client ask again).
DATA_URL_TTL = 3600


def _check_hash(value: str, what: str = "hash") -> str:
    try:
        hex_to_hash(value)
    except ValueError:
        raise bad_request(f"Invalid {what} {value!r}: expected 64 hexadecimal characters.") from None
    return value.lower()


def _cas_auth(state: HubState, req: Request, *, write: bool) -> CasPrincipal:
    return state.auth.cas_principal(req.header("Authorization"), write=write)


def _uploader(state: HubState, req: Request) -> CasPrincipal:
    who = _cas_auth(state, req, write=True)
    if state.catalog.get_bucket_by_id(who.bucket_id) is None:
        raise forbidden("The bucket this CAS token was issued for no longer exists.")
    return who


# --- global dedup -------------------------------------------------------------------------------


def chunk_query(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _cas_auth(state, req, write=False)
    chunk = _check_hash(params["hash"], "chunk hash")
    state.stats.add(dedup_queries=1)
    shard = state.cas.dedup_shard(chunk)
    if shard is None:
        raise not_found("Chunk not known.")  # the normal, fast miss (§3.1)
    state.stats.add(dedup_hits=1)
    return Response(200, {"Content-Type": "application/octet-stream"}, shard)


# --- xorb uploads -----------------------------------------------------------------------------


def _verified(state: HubState, xorb_hex: str, body: bytes) -> XorbInfo:
    """Count the received body and verify it (400 via InvalidUploadError when it is not that xorb)."""
    state.stats.add(xorb_bytes_received=len(body))
    try:
        return state.cas.verify_xorb(xorb_hex, body)
    except ValueError:
        state.stats.add(xorbs_rejected=1)
        raise


def _ingest_xorb(state: HubState, xorb_hex: str, body: bytes) -> bool:
    info = _verified(state, xorb_hex, body)
    inserted = state.cas.store_xorb(info, body)
    _count_xorb(state, inserted, info.serialized_size, info.raw_size)
    return inserted


def _count_xorb(state: HubState, inserted: bool, serialized: int, raw: int) -> None:
    if inserted:
        state.stats.add(xorbs_stored=1, xorb_bytes_stored=serialized, raw_chunk_bytes_stored=raw)
    else:
        state.stats.add(xorbs_already_present=1)


def post_xorb(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _uploader(state, req)
    xorb_hex = _check_hash(params["hash"], "xorb hash")
    inserted = _ingest_xorb(state, xorb_hex, req.body())
    return Response.json(200, {"was_inserted": inserted})


def head_xorb(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _cas_auth(state, req, write=False)
    xorb_hex = _check_hash(params["hash"], "xorb hash")
    size = state.cas.xorb_size(xorb_hex)
    if size is None:
        raise not_found("Xorb not found.")
    state.cas.lease_xorb(xorb_hex)  # an uploader checking before it skips the upload: see lease_xorb
    return Response(200, {}, b"", content_length=size)


def xorb_grant(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who = _uploader(state, req)
    xorb_hex = _check_hash(params["hash"], "xorb hash")
    body = req.json()
    length = body.get("length") if isinstance(body, dict) else None
    if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= _XORB_MAX_BODY:
        raise bad_request(f"'length' must be an integer between 1 and {_XORB_MAX_BODY}.")
    if state.cas.lease_xorb(xorb_hex):  # the client will reference it: restart its GC grace period
        state.stats.add(xorbs_already_present=1)
        return Response(200, {}, b"")  # already stored: nothing to upload (§3.2)
    checksum = body.get("checksum")
    value = checksum.get("value") if isinstance(checksum, dict) else None
    grant = state.grants.issue(xorb_hex, length, value if isinstance(value, str) else None, who)
    state.stats.add(grants_issued=1)
    url = f"{state.cas_url(req)}/grant-uploads/{grant.id}"
    return Response.json(201, {"id": grant.id, "method": "PUT", "url": url, "headers": {}})


def grant_upload(state: HubState, req: Request, params: dict[str, str]) -> Response:
    # No Authorization here (§3.3): the unguessable grant id in the URL is the credential.
    grant = state.grants.get(params["grant"])
    if grant is None:
        raise forbidden("Unknown or expired upload grant.")  # the client then asks for a new grant
    if req.content_length != grant.length:
        raise bad_request(f"Upload is {req.content_length} bytes; the grant was issued for {grant.length}.")
    body = req.body()
    info = _verified(state, grant.xorb_hex, body)
    staged = state.cas.stage(body)
    if not state.grants.stage(grant.id, info, staged):
        staged.unlink(missing_ok=True)
        raise forbidden("Upload grant expired during the upload.")
    return Response(200, {}, b"")


def xorb_commit(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _uploader(state, req)
    xorb_hex = _check_hash(params["hash"], "xorb hash")
    grant = state.grants.get(params["grant"])
    if grant is None or grant.staged is None:
        raise not_found("Nothing was uploaded under this grant.")  # client: new grant + re-upload
    if grant.xorb_hex != xorb_hex:
        raise bad_request(f"Grant {grant.id} was issued for xorb {grant.xorb_hex}, not {xorb_hex}.")
    state.grants.pop(grant.id)
    info, path = grant.staged
    inserted = state.cas.publish(info, path)
    _count_xorb(state, inserted, info.serialized_size, info.raw_size)
    return Response.json(200, {"was_inserted": inserted})


# --- shards -----------------------------------------------------------------------------------


def _ingest_shard(state: HubState, req: Request) -> tuple[bool, int]:
    who = _uploader(state, req)
    body = req.body()
    state.stats.add(shard_bytes_received=len(body))
    try:
        result = state.cas.ingest_shard(body, bucket_id=who.bucket_id)
    except ValueError:
        state.stats.add(shards_rejected=1)
        raise
    state.stats.add(shards_received=1)
    return result.new, result.files


def post_shard_v1(state: HubState, req: Request, params: dict[str, str]) -> Response:
    new, _ = _ingest_shard(state, req)
    return Response.json(200, {"result": 1 if new else 0})


def post_shard_v2(state: HubState, req: Request, params: dict[str, str]) -> Response:
    try:
        new, files = _ingest_shard(state, req)
    except ValueError as exc:
        # A terminal error line (not an HTTP 400) is the v2 way to refuse a shard (§3.6).
        line = {"type": "error", "message": str(exc), "retryable": False}
        return Response(200, {"Content-Type": "application/x-ndjson"}, (json.dumps(line) + "\n").encode())
    lines = [
        {"type": "validating", "verified": files, "total": files},
        {"type": "committing", "stage": "syncing"},
        {"type": "result", "result": 1 if new else 0},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return Response(200, {"Content-Type": "application/x-ndjson"}, body)


# --- reconstructions and data -------------------------------------------------------------------


def _readable_file(state: HubState, req: Request, file_hex: str) -> FileReconstruction:
    who = _cas_auth(state, req, write=False)
    rec = state.cas.file(file_hex)
    # A file is readable with a token for a bucket that holds it or that it was uploaded for.
    if rec is None or not state.catalog.may_use_file(who.bucket_id, file_hex):
        raise not_found(f"File {file_hex} not found.")
    return rec


def _data_url(state: HubState, req: Request, xorb_hex: str) -> str:
    # Like production's presigned storage URLs: on another origin (the CDN port), no token needed.
    exp = int(time.time()) + DATA_URL_TTL
    sig = state.auth.sign(f"data:{xorb_hex}:{exp}")
    return f"{state.cdn_base_url()}/cas/{state.store_id}/xorb-data/{xorb_hex}?{urlencode({'e': exp, 's': sig})}"


def _reconstruct(state: HubState, req: Request, params: dict[str, str], version: int) -> Response:
    file_hex = _check_hash(params["hash"], "file hash")
    rec = _readable_file(state, req, file_hex)
    ranges = parse_ranges(req.header("Range"), rec.size)
    start, end = ranges[0] if ranges else (0, rec.size)
    state.stats.add(reconstructions=1)
    if rec.size == 0:
        empty: dict[str, Any] = {"offset_into_first_range": 0, "terms": []}
        empty["xorbs" if version == 2 else "fetch_info"] = {}
        return Response.json(200, empty)
    plan = state.cas.plan(rec, start, end)
    return Response.json(200, _plan_json(state, req, plan, version))


def _plan_json(state: HubState, req: Request, plan: Plan, version: int) -> dict[str, Any]:
    terms = [
        {"hash": t.xorb, "unpacked_length": t.unpacked, "range": {"start": t.start, "end": t.end}} for t in plan.terms
    ]
    out: dict[str, Any] = {"offset_into_first_range": plan.offset_into_first_range, "terms": terms}
    if version == 2:
        out["xorbs"] = {
            xorb: [
                {
                    "url": _data_url(state, req, xorb),
                    "ranges": [
                        {"chunks": {"start": s, "end": e}, "bytes": {"start": b0, "end": b1}} for s, e, b0, b1 in descs
                    ],
                }
            ]
            for xorb, descs in plan.fetch.items()
        }
    else:
        out["fetch_info"] = {
            xorb: [
                {"range": {"start": s, "end": e}, "url": _data_url(state, req, xorb), "url_range": {"start": b0, "end": b1}}
                for s, e, b0, b1 in descs
            ]
            for xorb, descs in plan.fetch.items()
        }
    return out


def reconstruction_v1(state: HubState, req: Request, params: dict[str, str]) -> Response:
    return _reconstruct(state, req, params, 1)


def reconstruction_v2(state: HubState, req: Request, params: dict[str, str]) -> Response:
    return _reconstruct(state, req, params, 2)


def head_file(state: HubState, req: Request, params: dict[str, str]) -> Response:
    rec = _readable_file(state, req, _check_hash(params["hash"], "file hash"))
    return Response(200, {}, b"", content_length=rec.size)


def xorb_data(state: HubState, req: Request, params: dict[str, str]) -> Response:
    state.record_cdn_request(req)
    xorb_hex = _check_hash(params["hash"], "xorb hash")
    exp_raw, sig = req.arg("e", ""), req.arg("s", "")
    try:
        exp = int(exp_raw or "")
    except ValueError:
        exp = 0
    if exp < time.time() or not state.auth.verify(f"data:{xorb_hex}:{exp}", sig or ""):
        raise forbidden("Data URL signature invalid or expired; request a new reconstruction.")
    size = state.cas.xorb_size(xorb_hex)
    if size is None:
        raise not_found("Xorb not found.")
    path = str(state.cas.xorb_path(xorb_hex))
    ranges = parse_ranges(req.header("Range"), size)
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    if ranges is None:
        state.stats.add(data_bytes_sent=size)
        return Response(200, headers, FileRange(path, 0, size))
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        state.stats.add(data_bytes_sent=end - start)
        return Response(206, headers, FileRange(path, start, end - start))
    return _multipart(state, path, size, ranges)


def _multipart(state: HubState, path: str, size: int, ranges: list[tuple[int, int]]) -> Response:
    """A ``multipart/byteranges`` 206 (only with HF_XET_CLIENT_ENABLE_MULTIRANGE_FETCHING=1, §6)."""
    boundary = os.urandom(12).hex()
    heads = [
        (
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Range: bytes {s}-{e - 1}/{size}\r\n\r\n"
        ).encode()
        for s, e in ranges
    ]
    tail = f"--{boundary}--\r\n".encode()
    total = sum(len(h) + (e - s) + 2 for h, (s, e) in zip(heads, ranges)) + len(tail)

    def parts() -> Iterator[bytes]:
        with open(path, "rb") as f:
            for head, (s, e) in zip(heads, ranges):
                yield head
                yield os.pread(f.fileno(), e - s, s)
                yield b"\r\n"
        yield tail

    state.stats.add(data_bytes_sent=sum(e - s for s, e in ranges))
    headers = {"Content-Type": f"multipart/byteranges; boundary={boundary}"}
    return Response(206, headers, parts(), content_length=total)


def telemetry(state: HubState, req: Request, params: dict[str, str]) -> Response:
    req.body()  # read and ignore; the client never looks at the answer
    return Response.empty(204)


ROUTES: list[Route] = [
    route("GET", _CAS + rf"/v1/chunks/[^/]+/{_H}$", chunk_query, "cas_dedup"),
    route("POST", _CAS + rf"/v1/xorb-grants/[^/]+/{_H}$", xorb_grant, "cas_xorb"),
    route("PUT POST", _CAS + r"/grant-uploads/(?P<grant>[A-Za-z0-9_-]+)$", grant_upload, "cas_xorb",
          max_body=_XORB_MAX_BODY, throttle=True),
    route("POST", _CAS + rf"/v1/xorb-commits/[^/]+/{_H}/grant/(?P<grant>[A-Za-z0-9_-]+)$", xorb_commit, "cas_xorb"),
    route("POST", _CAS + rf"/v1/xorbs/[^/]+/{_H}$", post_xorb, "cas_xorb", max_body=_XORB_MAX_BODY, throttle=True),
    route("HEAD", _CAS + rf"/v1/xorbs/[^/]+/{_H}$", head_xorb, "cas_xorb"),
    route("POST", _CAS + r"/v1/shards$", post_shard_v1, "cas_shard", max_body=_SHARD_MAX_BODY, throttle=True),
    route("POST", _CAS + r"/v2/shards$", post_shard_v2, "cas_shard", max_body=_SHARD_MAX_BODY, throttle=True),
    route("GET", _CAS + rf"/v1/reconstructions/{_H}$", reconstruction_v1, "cas_reconstruction"),
    route("GET", _CAS + rf"/v2/reconstructions/{_H}$", reconstruction_v2, "cas_reconstruction"),
    route("HEAD", _CAS + rf"/v1/files/{_H}$", head_file, "cas_reconstruction"),
    route("GET", _CAS + rf"/xorb-data/{_H}$", xorb_data, "cas_data", throttle=True, origin="cdn"),
    route("POST", r"^(?:/cas/[^/]+)?/v1/telemetry$", telemetry, "telemetry", max_body=_TELEMETRY_MAX_BODY),
]
