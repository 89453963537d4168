"""Admin routes of the local Hub, under the reserved prefix ``/_localhub/``.

They exist for tests, benchmarks and the CLI. Who may call them: with ``admin_token`` set
(``LocalHub(admin_token=...)`` / ``--admin-token``) every caller must send
``Authorization: Bearer <admin_token>``; without one, only loopback peers (127.0.0.0/8, ::1) are
answered and everyone else gets 403 — so ``--host 0.0.0.0`` never hands fault injection or the
bandwidth cap to the network. ``health`` is open to all (readiness probes).

- ``GET /_localhub/health`` -> ``{"ok": true}``
- ``GET /_localhub/stats`` -> the counters of :meth:`LocalHub.stats`
- ``PUT /_localhub/bandwidth`` with ``{"bytes_per_s": 20000000}`` (or ``null`` to lift the cap)
- ``GET /_localhub/faults`` -> rules, dark flag, seed, counts of injected faults and of matched requests
  (``matched``: what the ``after`` / ``times`` windows count; partial batches: ``partial_batches``)
- ``PUT /_localhub/faults`` with any of ``{"rules": {"cas": {"error_rate": 0.1, "status": 429,
  "retry_after": 1}}, "dark": true, "seed": 7}`` (``rules`` replaces every rule)
- ``DELETE /_localhub/faults`` -> no rules, answering again

Example::

    curl -X PUT "$HF_ENDPOINT/_localhub/bandwidth" -d '{"bytes_per_s": 20e6}'
    curl -X PUT "$HF_ENDPOINT/_localhub/faults" -d '{"dark": true}'     # go dark
    curl -X PUT "$HF_ENDPOINT/_localhub/faults" -d '{"dark": false}'    # come back
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from .routing import Route, route
from .http import Request, Response
from .state import HubState
from .wire import WireError, bad_request

__all__ = ["ROUTES", "stats_payload"]


def stats_payload(state: HubState) -> dict[str, Any]:
    out = state.stats.snapshot()
    out["catalog"] = state.catalog.counts()
    out["bandwidth_limit"] = state.limiter.rate
    if state.faults is not None:
        out["faults"] = state.faults.snapshot()
    return out


def _is_loopback(address: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except (ValueError, IndexError):
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on dual-stack sockets
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _authorize(state: HubState, req: Request) -> None:
    """Admin token if configured, else loopback peers only (see the module docstring)."""
    if state.admin_token is not None:
        given = (req.header("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), state.admin_token.encode()):
            raise WireError(401, "Admin routes need 'Authorization: Bearer <admin token>' (the --admin-token of this hub).")
        return
    if not _is_loopback(req.client_address):
        raise WireError(
            403, "Admin routes answer loopback clients only; start the hub with --admin-token to manage it remotely."
        )


def health(state: HubState, req: Request, params: dict[str, str]) -> Response:
    return Response.json(200, {"ok": True})


def stats(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _authorize(state, req)
    return Response.json(200, stats_payload(state))


def get_faults(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _authorize(state, req)
    if state.faults is None:
        raise WireError(404, "This hub has no fault injector.")
    return Response.json(200, state.faults.snapshot())


def put_faults(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _authorize(state, req)
    if state.faults is None:
        raise WireError(404, "This hub has no fault injector.")
    body = req.json()
    if not isinstance(body, dict) or not body or set(body) - {"rules", "dark", "seed"}:
        raise bad_request('Body must be an object with any of "rules", "dark", "seed".')
    dark, seed = body.get("dark"), body.get("seed")
    if dark is not None and not isinstance(dark, bool):
        raise bad_request("'dark' must be true (stop answering) or false (come back).")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request("'seed' must be an integer.")
    try:
        state.faults.configure(body.get("rules"), dark=dark, seed=seed)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return Response.json(200, state.faults.snapshot())


def delete_faults(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _authorize(state, req)
    if state.faults is None:
        raise WireError(404, "This hub has no fault injector.")
    state.faults.clear()
    return Response.json(200, state.faults.snapshot())


def bandwidth(state: HubState, req: Request, params: dict[str, str]) -> Response:
    _authorize(state, req)
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
    route("GET", r"^/_localhub/faults$", get_faults, "admin"),
    route("PUT", r"^/_localhub/faults$", put_faults, "admin"),
    route("DELETE", r"^/_localhub/faults$", delete_faults, "admin"),
]
