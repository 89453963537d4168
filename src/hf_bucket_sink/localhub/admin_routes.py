"""Admin routes of the local Hub, under the reserved prefix ``/_localhub/`` (no authentication).

They exist for tests, benchmarks and the CLI, and need no token because the server binds to
loopback by default; do not expose a local Hub with admin routes to an untrusted network.

- ``GET /_localhub/health`` -> ``{"ok": true}``
- ``GET /_localhub/stats`` -> the counters of :meth:`LocalHub.stats`
- ``PUT /_localhub/bandwidth`` with ``{"bytes_per_s": 20000000}`` (or ``null`` to lift the cap)

Example::

    curl -X PUT "$HF_ENDPOINT/_localhub/bandwidth" -d '{"bytes_per_s": 20e6}'
"""

from __future__ import annotations

from typing import Any

from .app import Route, route
from .http import Request, Response
from .state import HubState
from .wire import bad_request

__all__ = ["ROUTES", "stats_payload"]


def stats_payload(state: HubState) -> dict[str, Any]:
    out = state.stats.snapshot()
    out["catalog"] = state.catalog.counts()
    out["bandwidth_limit"] = state.limiter.rate
    return out


def health(state: HubState, req: Request, params: dict[str, str]) -> Response:
    return Response.json(200, {"ok": True})


def stats(state: HubState, req: Request, params: dict[str, str]) -> Response:
    return Response.json(200, stats_payload(state))


def bandwidth(state: HubState, req: Request, params: dict[str, str]) -> Response:
    body = req.json()
    if not isinstance(body, dict) or "bytes_per_s" not in body:
        raise bad_request('Body must be {"bytes_per_s": <positive number or null>}.')
    rate = body["bytes_per_s"]
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
        raise bad_request("'bytes_per_s' must be a positive number or null.")
    state.limiter.set_rate(rate)
    return Response.json(200, {"bytes_per_s": state.limiter.rate})


ROUTES: list[Route] = [
    route("GET", r"^/_localhub/health$", health, "admin"),
    route("GET", r"^/_localhub/stats$", stats, "admin"),
    route("PUT", r"^/_localhub/bandwidth$", bandwidth, "admin"),
]
