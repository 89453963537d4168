"""Hub routes of the local Hub: the Storage Bucket API as ``huggingface_hub`` 2.4.0 calls it.

Covers ``hub-bucket-api.md`` §4 and §7: whoami, bucket create / info / list / delete / move /
settings, tree (``Link`` pagination), paths-info, batch, the Xet token routes, and resolve (HEAD
metadata and ranged GET). Paths arrive percent-encoded, sometimes with ``%2F`` for ``/``
(§1.4): every capture is decoded here, after routing on the raw path.

Batch validation choice: structural problems (a line that is not a JSON object, an unknown or
missing ``type``, a missing ``path``) reject the whole request with 400 before anything is applied,
because they cannot be attributed to a file; per-file problems (bad path, unknown ``xetHash``,
unreadable copy source, bad ``mtime``) become ``failed`` entries, like the Hub, so the client's
``BucketBatchError`` lists them and the other operations still apply.

Example (what the client does)::

    HfApi(endpoint=hub.url, token=hub.token).create_bucket("data")   # POST /api/buckets/me/data
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote, urlencode

from .routing import Route, route
from .auth import Principal
from .catalog import BucketExistsError, BucketRecord, FileOp, FileRecord, TreeEntry
from .http import Request, Response, parse_ranges
from .state import HubState
from .validation import check_bucket_name, check_path, path_problem, prefix_problem
from .wire import bad_request, conflict, entry_not_found, not_found, unauthorized

__all__ = ["ROUTES"]

_BATCH_MAX_BODY = 64 << 20
_MAX_PATHS_INFO = 10_000
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_TYPE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,254}$")
_SEG = r"[^/]+"
_BUCKET = rf"^/api/buckets/(?P<ns>{_SEG})/(?P<name>{_SEG})"


# --- helpers --------------------------------------------------------------------------------


def _decode(segment: str, what: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise bad_request(f"Invalid {what}: not valid UTF-8 after percent-decoding.") from None


def _iso(ts: float, millis: int | None = None) -> str:
    """UTC with a literal ``Z`` and milliseconds: the only datetime shape the client parses (§1.3)."""
    d = datetime.fromtimestamp(ts, tz=timezone.utc)
    ms = d.microsecond // 1000 if millis is None else millis
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{ms:03d}Z"


def _iso_ms(ms: int) -> str:
    """A client ``mtime`` (ms since the epoch) rendered exactly, without float rounding."""
    seconds, millis = divmod(ms, 1000)
    return _iso(float(seconds), millis)


def _who(state: HubState, req: Request) -> Principal | None:
    return state.auth.hub_principal(req.header("Authorization"))


def _namespace(who: Principal | None, ns: str) -> str:
    """Resolve the ``me`` alias to the caller's user name (401 when anonymous)."""
    if ns == "me":
        if who is None:
            raise unauthorized()
        return who.user
    return ns


def _lookup(state: HubState, req: Request, params: dict[str, str]) -> tuple[Principal | None, str, BucketRecord | None]:
    who = _who(state, req)
    ns = _namespace(who, _decode(params["ns"], "namespace"))
    name = _decode(params["name"], "bucket name")
    return who, f"{ns}/{name}", state.catalog.get_bucket(ns, name)


def _readable(state: HubState, req: Request, params: dict[str, str]) -> tuple[Principal | None, BucketRecord]:
    who, bucket_id, bucket = _lookup(state, req, params)
    return who, state.auth.check_read(who, bucket, bucket_id)


def _writable(state: HubState, req: Request, params: dict[str, str]) -> tuple[Principal, BucketRecord]:
    who, bucket_id, bucket = _lookup(state, req, params)
    bucket = state.auth.check_write(who, bucket, bucket_id)
    assert who is not None  # check_write raised 401 otherwise
    return who, bucket


def _bucket_url(state: HubState, req: Request, bucket: BucketRecord | str) -> str:
    bid = bucket.full_id if isinstance(bucket, BucketRecord) else bucket
    return f"{state.base_url(req)}/buckets/{bid}"


def _bucket_json(state: HubState, bucket: BucketRecord) -> dict[str, Any]:
    size, count = state.catalog.bucket_usage(bucket.id)
    out: dict[str, Any] = {
        "id": bucket.full_id,
        "author": bucket.namespace,
        "private": bucket.private,
        "createdAt": _iso(bucket.created_at),
        "updatedAt": _iso(bucket.updated_at),
        "size": size,
        "totalFiles": count,
    }
    if bucket.region:
        out["region"] = bucket.region
    return out


def _file_json(f: FileRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "file",
        "path": f.path,
        "size": f.size,
        "xetHash": f.xet_hash,
        "uploadedAt": _iso(f.uploaded_at),
    }
    if f.mtime_ms is not None:
        out["mtime"] = _iso_ms(f.mtime_ms)
    return out


def _entry_json(e: TreeEntry) -> dict[str, Any]:
    if e.file is not None:
        return _file_json(e.file)
    out: dict[str, Any] = {"type": "directory", "path": e.path}
    if e.uploaded_at is not None:
        out["uploadedAt"] = _iso(e.uploaded_at)
    return out


def _encode_cursor(key: tuple[str, bool] | str) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise bad_request("Invalid pagination cursor.") from None


def _limit(state: HubState, req: Request) -> int:
    raw = req.arg("limit")
    if raw is None:
        return state.page_size
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid limit {raw!r}: expected a positive integer.") from None
    if value < 1:
        raise bad_request(f"Invalid limit {raw!r}: expected a positive integer.")
    return min(value, 10_000)


def _link_next(url: str, query: dict[str, str]) -> dict[str, str]:
    return {"Link": f'<{url}?{urlencode(query)}>; rel="next"'}


# --- whoami, misc ---------------------------------------------------------------------------


def whoami(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who = state.auth.require_user(_who(state, req))
    return Response.json(
        200,
        {
            "type": "user",
            "id": who.user,
            "name": who.user,
            "fullname": who.user,
            "isPro": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": who.token_name, "role": who.role}},
        },
    )


def not_implemented_feed(state: HubState, req: Request, params: dict[str, str]) -> Response:
    # Live-follow events and agent harnesses are optional; 404 makes the clients skip them.
    raise not_found("Not available on the local Hub.")


# --- buckets ------------------------------------------------------------------------------------


def create_bucket(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who = _who(state, req)
    ns = _namespace(who, _decode(params["ns"], "namespace"))
    name = _decode(params["name"], "bucket name")
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    state.auth.check_namespace_write(who, ns)
    check_bucket_name(name)
    private = body.get("private")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise bad_request(f"Invalid visibility {visibility!r}: expected 'public' or 'private'.")
        private = visibility == "private"
    if private is not None and not isinstance(private, bool):
        raise bad_request("'private' must be a boolean.")
    region = body.get("region")
    if region is not None and region not in ("us", "eu"):
        raise bad_request(f"Invalid region {region!r}: expected 'us' or 'eu'.")
    url = _bucket_url(state, req, f"{ns}/{name}")
    try:
        bucket = state.catalog.create_bucket(
            ns, name, private=bool(private), region=region, resource_group=body.get("resourceGroupId")
        )
    except BucketExistsError:
        raise conflict(f"You already created this bucket: {ns}/{name}", url=url) from None
    return Response.json(200, {"url": url, "id": bucket.full_id, "name": bucket.full_id})


def bucket_info(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _readable(state, req, params)
    return Response.json(200, _bucket_json(state, bucket))


def list_buckets(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who = _who(state, req)
    ns = _namespace(who, _decode(params["ns"], "namespace"))
    search = req.arg("search")
    limit = _limit(state, req)
    after = _decode_cursor(req.arg("cursor"))
    if after is not None and not isinstance(after, str):
        raise bad_request("Invalid pagination cursor.")
    rows = state.catalog.list_buckets(
        ns, include_private=who is not None and who.user == ns, search=search, after=after, limit=limit + 1
    )
    headers: dict[str, str] = {}
    if len(rows) > limit:
        rows = rows[:limit]
        query = {"limit": str(limit), "cursor": _encode_cursor(rows[-1].name)}
        if search is not None:
            query = {"search": search, **query}
        headers = _link_next(f"{state.base_url(req)}/api/buckets/{params['ns']}", query)
    return Response.json(200, [_bucket_json(state, b) for b in rows], headers)


def delete_bucket(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _writable(state, req, params)
    state.catalog.delete_bucket(bucket.id)
    return Response.json(200, {})


def update_settings(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _writable(state, req, params)
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    private = body.get("private")
    if private is not None:
        if not isinstance(private, bool):
            raise bad_request("'private' must be a boolean.")
        state.catalog.set_private(bucket.id, private)
    return Response.json(200, {})


def move_bucket(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who = state.auth.require_user(_who(state, req))
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    if body.get("type") != "bucket":
        raise bad_request("The local Hub only moves buckets: send type 'bucket'.")
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str) or src.count("/") != 1 or dst.count("/") != 1:
        raise bad_request("'fromRepo' and 'toRepo' must be 'namespace/name' strings.")
    src_ns, src_name = src.split("/")
    dst_ns, dst_name = dst.split("/")
    bucket = state.auth.check_write(who, state.catalog.get_bucket(src_ns, src_name), src)
    state.auth.check_namespace_write(who, dst_ns)
    check_bucket_name(dst_name)
    try:
        state.catalog.move_bucket(bucket.id, dst_ns, dst_name)
    except BucketExistsError:
        raise conflict(f"Bucket {dst} already exists.", url=_bucket_url(state, req, dst)) from None
    return Response.json(200, {"url": _bucket_url(state, req, dst)})


# --- listing ----------------------------------------------------------------------------------


def tree(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _readable(state, req, params)
    raw_prefix = params.get("prefix") or ""
    given = _decode(raw_prefix, "prefix")
    prefix = given.rstrip("/")
    problem = prefix_problem(prefix)
    if problem is not None or given.endswith("//"):
        raise bad_request(f"Invalid prefix {given!r}: {problem or 'empty path segment'}.")
    recursive_arg = req.arg("recursive")
    if recursive_arg is None:
        recursive = True  # production defaults to recursive (hub-bucket-api.md §4.8)
    elif recursive_arg.lower() in ("true", "1"):
        recursive = True
    elif recursive_arg.lower() in ("false", "0"):
        recursive = False
    else:
        raise bad_request(f"Invalid recursive={recursive_arg!r}: expected true or false.")
    limit = _limit(state, req)
    cursor = _decode_cursor(req.arg("cursor"))
    after: tuple[str, bool] | None = None
    if cursor is not None:
        if not (isinstance(cursor, list) and len(cursor) == 2 and isinstance(cursor[0], str)):
            raise bad_request("Invalid pagination cursor.")
        after = (cursor[0], bool(cursor[1]))
    # Recursive listings match lexically on the prefix as given ("logs/" excludes "logs.json");
    # folder listings work on the folder path.
    key = given if recursive and prefix else prefix
    entries, next_key = state.catalog.list_tree(bucket.id, key, recursive=recursive, after=after, limit=limit)
    headers: dict[str, str] = {}
    if next_key is not None:
        query = {"limit": str(limit), "cursor": _encode_cursor(next_key)}
        if recursive_arg is not None:
            query = {"recursive": "true" if recursive else "false", **query}
        suffix = "/" + quote(given, safe="") if given else ""
        url = f"{state.base_url(req)}/api/buckets/{bucket.full_id}/tree{suffix}"
        headers = _link_next(url, query)
    return Response.json(200, [_entry_json(e) for e in entries], headers)


def paths_info(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _readable(state, req, params)
    body = req.json()
    paths = body.get("paths") if isinstance(body, dict) else None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise bad_request("Body must be {\"paths\": [<string>, ...]}.")
    if len(paths) > _MAX_PATHS_INFO:
        raise bad_request(f"At most {_MAX_PATHS_INFO} paths per request.")
    # Invalid paths cannot exist, so they are simply absent from the answer (like missing ones).
    valid = [p for p in paths if path_problem(p) is None]
    return Response.json(200, [_file_json(f) for f in state.catalog.get_files(bucket.id, valid)])


# --- batch ------------------------------------------------------------------------------------


def _parse_batch(raw: bytes) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except ValueError as exc:
            raise bad_request(f"Batch line {number} is not valid JSON: {exc}") from None
        if not isinstance(op, dict):
            raise bad_request(f"Batch line {number} is not a JSON object.")
        kind = op.get("type")
        if kind not in ("addFile", "copyFile", "deleteFile"):
            raise bad_request(f"Batch line {number}: unknown type {kind!r} (addFile, copyFile or deleteFile).")
        if not isinstance(op.get("path"), str):
            raise bad_request(f"Batch line {number}: 'path' must be a string.")
        lines.append(op)
    return lines


def _batch_op(
    state: HubState, who: Principal, bucket: BucketRecord, op: dict[str, Any]
) -> FileOp:
    """Validate one batch line into a :class:`FileOp`; raise ValueError(message) for a ``failed`` entry."""
    path = op["path"]
    problem = path_problem(path)
    if problem is not None:
        raise ValueError(f"invalid path: {problem}")
    if op["type"] == "deleteFile":
        return FileOp("delete", path)
    xet_hash = op.get("xetHash")
    if not isinstance(xet_hash, str) or not _HEX64.match(xet_hash):
        raise ValueError("'xetHash' must be a 64-character hexadecimal Xet file hash")
    xet_hash = xet_hash.lower()
    mtime = op.get("mtime")
    if mtime is not None:
        if isinstance(mtime, bool) or not isinstance(mtime, int):
            raise ValueError("'mtime' must be an integer number of milliseconds since the epoch")
        try:
            _iso_ms(mtime)  # it is rendered in every listing: refuse what cannot be
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"'mtime' {mtime} is out of range") from None
    content_type = op.get("contentType")
    # Served back as a response header by resolve: printable ASCII only (no header injection).
    if content_type is not None and (not isinstance(content_type, str) or not _CONTENT_TYPE.match(content_type)):
        raise ValueError("'contentType' must be a printable ASCII media type of at most 255 characters")
    size = state.cas.file_size(xet_hash)
    if op["type"] == "addFile":
        if size is None:
            raise ValueError(f"unknown xetHash {xet_hash}: upload the file to Xet storage before registering it")
        if not state.catalog.may_use_file(bucket.id, xet_hash):
            raise ValueError(f"xetHash {xet_hash} was not uploaded for this bucket; use copyFile from its bucket")
    else:
        source_type, source_id = op.get("sourceRepoType"), op.get("sourceRepoId")
        if source_type != "bucket":
            raise ValueError(f"copies from {source_type!r} repositories are not supported by the local Hub")
        if not isinstance(source_id, str) or source_id.count("/") != 1:
            raise ValueError("'sourceRepoId' must be 'namespace/name'")
        ns, name = source_id.split("/")
        source = state.catalog.get_bucket(ns, name)
        if source is None or not state.auth.can_see(who, source):
            raise ValueError(f"source bucket {source_id} not found")
        if size is None or not state.catalog.bucket_has_hash(source.id, xet_hash):
            raise ValueError(f"no file with xetHash {xet_hash} in source bucket {source_id}")
    return FileOp("add", path, xet_hash=xet_hash, size=size or 0, mtime_ms=mtime, content_type=content_type)


def batch(state: HubState, req: Request, params: dict[str, str]) -> Response:
    who, bucket = _writable(state, req, params)
    lines = _parse_batch(req.body())
    ops: list[FileOp] = []
    failed: list[dict[str, str]] = []
    for op in lines:
        try:
            ops.append(_batch_op(state, who, bucket, op))
        except ValueError as exc:
            failed.append({"path": op["path"], "error": str(exc)})
    state.catalog.apply_batch(bucket.id, ops)
    added = sum(1 for o in ops if o.kind == "add")
    state.stats.add(files_registered=added, files_deleted=len(ops) - added, batch_failures=len(failed))
    report = {"success": not failed, "processed": len(lines), "succeeded": len(ops), "failed": failed}
    return Response.json(422 if failed and not ops else 200, report)


# --- xet tokens -------------------------------------------------------------------------------


def xet_token(state: HubState, req: Request, params: dict[str, str]) -> Response:
    access = params["access"]
    if access == "write":
        who, bucket = _writable(state, req, params)
        user = who.user
    else:
        reader, bucket = _readable(state, req, params)
        user = reader.user if reader is not None else ""
    token, exp = state.auth.issue_cas_token(user, bucket_id=bucket.id, access=access)
    cas_url = state.cas_url(req)
    state.stats.add(xet_tokens_issued=1)
    headers = {"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)}
    return Response.json(200, {"accessToken": token, "exp": exp, "casUrl": cas_url}, headers)


# --- resolve ----------------------------------------------------------------------------------


def resolve(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _, bucket = _readable(state, req, params)
    path = check_path(_decode(params["path"], "path"))
    files = state.catalog.get_files(bucket.id, [path])
    if not files:
        raise entry_not_found(bucket.full_id, path)
    f = files[0]
    headers = {
        "X-Xet-Hash": f.xet_hash,
        "X-Linked-Size": str(f.size),
        "Link": f'<{state.base_url(req)}/api/buckets/{bucket.full_id}/xet-read-token>; rel="xet-auth"',
        "ETag": f'"{f.xet_hash}"',
        "X-Linked-ETag": f'"{f.xet_hash}"',
        "Accept-Ranges": "bytes",
        "Content-Type": f.content_type or "application/octet-stream",
    }
    if req.method == "HEAD":
        return Response(200, headers, b"", content_length=f.size)  # Content-Length = file size
    ranges = parse_ranges(req.header("Range"), f.size)
    if ranges is not None and len(ranges) > 1:
        ranges = None  # multi-range on resolve: serve the whole body (RFC 9110 allows ignoring Range)
    start, end = ranges[0] if ranges else (0, f.size)
    status = 206 if ranges else 200
    if ranges:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
    if end <= start:  # empty file, no Range
        return Response(status, headers, b"")
    rec = state.cas.file(f.xet_hash)
    if rec is None:
        raise RuntimeError(f"bucket file {path!r} references unknown file hash {f.xet_hash}")
    plan = state.cas.plan(rec, start, end)
    state.stats.add(resolve_bytes_sent=end - start)
    return Response(status, headers, state.cas.iter_bytes(plan), content_length=end - start)


# --- table ------------------------------------------------------------------------------------

ROUTES: list[Route] = [
    route("GET", r"^/api/whoami-v2$", whoami, "hub_api"),
    route("GET", r"^/api/agent-harnesses(?:/.*)?$", not_implemented_feed, "hub_api"),
    route("POST", r"^/api/repos/move$", move_bucket, "hub_api"),
    route("GET", rf"^/api/buckets/(?P<ns>{_SEG})/?$", list_buckets, "hub_api"),
    route("POST", _BUCKET + r"/?$", create_bucket, "hub_api"),
    route("GET", _BUCKET + r"/?$", bucket_info, "hub_api"),
    route("DELETE", _BUCKET + r"/?$", delete_bucket, "hub_api"),
    route("PUT", _BUCKET + r"/settings$", update_settings, "hub_api"),
    route("GET", _BUCKET + r"/tree(?:/(?P<prefix>.*))?$", tree, "hub_api"),
    route("POST", _BUCKET + r"/paths-info$", paths_info, "hub_api"),
    route("POST", _BUCKET + r"/batch$", batch, "hub_batch", max_body=_BATCH_MAX_BODY),
    route("GET", _BUCKET + r"/xet-(?P<access>read|write)-token$", xet_token, "xet_token"),
    route("GET", _BUCKET + r"/events$", not_implemented_feed, "hub_api"),
    route("GET HEAD", rf"^/buckets/(?P<ns>{_SEG})/(?P<name>{_SEG})/resolve/(?P<path>.+)$", resolve, "hub_resolve",
          throttle=True),
]
