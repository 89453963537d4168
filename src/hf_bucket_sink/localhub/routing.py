"""Routes: a method set and a path pattern bound to a handler, tagged with the family fault rules key on.

The route modules (``hub_routes``, ``cas_routes``, ``admin_routes``) declare ``ROUTES`` with
:func:`route`; :class:`~.app.App` dispatches over them. Kept apart from the dispatcher so that
the route modules and the dispatcher do not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .http import Request, Response
from .state import HubState

__all__ = ["Handler", "Route", "route", "SMALL_BODY"]

Handler = Callable[[HubState, Request, dict[str, str]], Response]

#: Default body cap: JSON routes (create bucket, settings, move, admin…) carry a few hundred bytes.
SMALL_BODY = 1 << 20


@dataclass(frozen=True)
class Route:
    """``methods`` + a regex on the raw path; named groups become handler parameters."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    family: str
    max_body: int = SMALL_BODY
    #: Throttle the request body (uploads) and the response body (downloads) with the bandwidth limit.
    throttle: bool = False
    #: The listening origin that serves it: ``"hub"`` (API, CAS) or ``"cdn"`` (signed, token-free downloads).
    origin: str = "hub"


def route(
    methods: str,
    pattern: str,
    handler: Handler,
    family: str,
    *,
    max_body: int = SMALL_BODY,
    throttle: bool = False,
    origin: str = "hub",
) -> Route:
    """Build a :class:`Route`; ``methods`` is space-separated (``"GET HEAD"``)."""
    return Route(frozenset(methods.split()), re.compile(pattern), handler, family, max_body, throttle, origin)
