"""Routing and dispatch of the local Hub: one route table, one error boundary, per-family counters.

The route table joins three families of routes kept in their own modules: the Hub bucket API
(:mod:`.hub_routes`), the Xet CAS API (:mod:`.cas_routes`) and the admin routes under the reserved
prefix ``/_localhub/`` (:mod:`.admin_routes`). :class:`App` is the ``dispatch(request) ->
Response`` callable the HTTP server runs; it never raises. Every route belongs to a *family*
(``hub_api``, ``cas_xorb``, ``cas_data`` …): counters are kept per family, and the fault-injection
layer (:mod:`.faults`: error rates, latency, dropped connections, "go dark") wraps
:meth:`App.__call__` and keys its rules on :meth:`App.family_of` without touching any route.

Example::

    app = App(state)
    response = app(request)        # what HubHTTPServer calls for each request
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .cas import InvalidUploadError, RangeNotSatisfiableError
from .http import ClientDisconnected, Request, Response
from .routing import Route
from .state import HubState
from .wire import WireError, bad_request, not_found, range_not_satisfiable

__all__ = ["App"]

logger = logging.getLogger(__name__)

class App:
    """The dispatcher: match a route, run it, translate errors, count the request."""

    def __init__(self, state: HubState, routes: Sequence[Route] | None = None) -> None:
        self.state = state
        if routes is None:
            from . import admin_routes, cas_routes, cdn_routes, hub_routes

            routes = [*admin_routes.ROUTES, *cas_routes.ROUTES, *hub_routes.ROUTES, *cdn_routes.ROUTES]
        self.routes: tuple[Route, ...] = tuple(routes)

    def match(self, req: Request) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_matched): the route for this request, if any."""
        path_matched = False
        for r in self.routes:
            if r.origin != req.origin:  # the CDN origin serves signed URLs only, the Hub origin never does
                continue
            m = r.pattern.match(req.path)
            if m is None:
                continue
            path_matched = True
            if req.method in r.methods:
                return r, m.groupdict(), True
        return None, {}, path_matched

    def family_of(self, req: Request) -> str:
        """The route family of a request (``unknown`` when no route matches): what fault rules key on."""
        r, _, _ = self.match(req)
        return r.family if r is not None else "unknown"

    def __call__(self, req: Request) -> Response:
        r, params, path_matched = self.match(req)
        family = r.family if r is not None else "unknown"
        self.state.stats.started(family)
        try:
            if r is None:
                if path_matched:
                    raise WireError(405, f"Method {req.method} not allowed on {req.path}.")
                raise not_found(f"No route for {req.method} {req.path}.")
            req.max_body = r.max_body
            req.throttle_body = r.throttle
            store = params.get("store")
            if store is not None and store != self.state.store_id:
                raise not_found(f"Unknown CAS store {store!r}: ask the Hub's xet token route for the current casUrl.")
            response = r.handler(self.state, req, params)
            if r.throttle:
                response.throttle = True
        except WireError as err:
            response = Response.from_error(err)
        except InvalidUploadError as err:
            response = Response.from_error(bad_request(str(err)))
        except RangeNotSatisfiableError as err:
            response = Response.from_error(range_not_satisfiable(err.size))
        except ClientDisconnected as err:
            logger.info("%s %s: client went away mid-body: %s", req.method, req.path, err)
            response = Response.from_error(bad_request(f"Incomplete request body: {err}"))
            response.close_connection = True
        except Exception:
            # Never leak a traceback to the client: log it, answer a JSON 500 with the request id.
            logger.exception("unhandled error in %s %s (request %s)", req.method, req.path, req.request_id)
            response = Response.from_error(
                WireError(500, f"Internal error in the local Hub (request id {req.request_id}); see the server log.")
            )
        self.state.stats.request(family, response.status)
        return response
