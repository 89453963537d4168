"""The CDN origin of the local Hub: signed, expiring, token-free download URLs on a second port.

Production answers ``GET|HEAD /buckets/{ns}/{b}/resolve/{path}`` of a non-empty file with a 302 to
a signed URL on *another origin* (its CDN) that needs no ``Authorization`` header and honours
``Range`` (hub-bucket-api.md §4.12). Clients depend on the origin change: ``huggingface_hub`` reads
the metadata from the 302 itself instead of following it, httpx drops ``Authorization`` on the
cross-origin hop, and this package hands the signed URL to Polars. So the local Hub listens on a
second port (a different origin) that serves only the routes here.

A signed file URL names the file's Xet hash (fixed when the redirect is made: a path overwritten
afterwards still serves the old bytes), an expiry and the ``Content-Type`` to serve, all covered by
an HMAC with the data directory's secret. Expired or altered URLs get 403.

Example::

    url = signed_file_url(state, xet_hash, content_type="text/csv")
    # -> http://127.0.0.1:<cdn port>/files/<xet hash>?e=<unix s>&ct=text%2Fcsv&s=<hmac>
"""

from __future__ import annotations

import re
import time
from math import ceil
from urllib.parse import urlencode

from .routing import Route, route
from .http import Request, Response, parse_ranges
from .state import HubState
from .wire import forbidden, not_found

__all__ = ["ROUTES", "signed_file_url"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _message(xet_hash: str, exp: int, content_type: str) -> str:
    return f"file:{xet_hash}:{exp}:{content_type}"


def signed_file_url(state: HubState, xet_hash: str, *, content_type: str) -> str:
    """A token-free URL for the bytes of ``xet_hash``, valid ``state.signed_url_ttl`` seconds."""
    exp = ceil(time.time() + state.signed_url_ttl)
    sig = state.auth.sign(_message(xet_hash, exp, content_type))
    return f"{state.cdn_base_url()}/files/{xet_hash}?{urlencode({'e': exp, 'ct': content_type, 's': sig})}"


def signed_file(state: HubState, req: Request, params: dict[str, str]) -> Response:
    state.record_cdn_request(req)
    xet_hash = params["hash"]
    exp_raw, content_type, sig = req.arg("e", ""), req.arg("ct", ""), req.arg("s", "")
    try:
        exp = int(exp_raw or "")
    except ValueError:
        exp = 0
    if (
        not _HEX64.match(xet_hash)
        or content_type is None
        or not state.auth.verify(_message(xet_hash, exp, content_type), sig or "")
    ):
        raise forbidden("Signature does not match this URL; ask the Hub's resolve route for a new one.")
    if exp < time.time():
        raise forbidden("This signed URL has expired; ask the Hub's resolve route for a new one.")
    rec = state.cas.file(xet_hash)
    if rec is None:
        raise not_found("The file behind this URL is gone.")
    headers = {
        "Content-Type": content_type or "application/octet-stream",
        "Accept-Ranges": "bytes",
        "ETag": f'"{xet_hash}"',
        "Cache-Control": "private, max-age=60",
    }
    if req.method == "HEAD":
        return Response(200, headers, b"", content_length=rec.size)
    ranges = parse_ranges(req.header("Range"), rec.size)
    if ranges is not None and len(ranges) > 1:
        ranges = None  # multi-range: serve the whole body (RFC 9110 allows ignoring Range)
    start, end = ranges[0] if ranges else (0, rec.size)
    status = 206 if ranges else 200
    if ranges:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{rec.size}"
    if end <= start:
        return Response(status, headers, b"")
    plan = state.cas.plan(rec, start, end)
    state.stats.add(resolve_bytes_sent=end - start)
    return Response(status, headers, state.cas.iter_bytes(plan), content_length=end - start)


ROUTES: list[Route] = [
    route("GET HEAD", r"^/files/(?P<hash>[^/]+)$", signed_file, "cdn_file", throttle=True, origin="cdn"),
]
