"""Fault injection for the local Hub: errors, latency, dropped connections and "go dark".

A :class:`FaultInjector` wraps the :class:`~.app.App` dispatcher (the one callable the HTTP server
runs per request) and keys its rules on the route *family* of each request (``cas_xorb``,
``hub_api`` … see :mod:`.app`), so no route knows about faults. Bandwidth caps stay in
:class:`~.http.BandwidthLimiter`; this module adds the rest:

- ``error_rate`` + ``status`` (500, 503, 429 …) + ``retry_after``: answer an error instead of
  running the route (the request body is drained, as a real overloaded server would);
- ``latency``: sleep this many seconds before handling the request;
- ``drop_rate``: cut the connection mid-body — a request with a body has about half of it read,
  then the connection is reset with no answer; a request without a body is handled and its answer
  is cut after the headers and half the body;
- ``dark``: stop answering — requests hang (the socket stays open, nothing is sent) until
  "come back" (then the held connections are reset) or ``stop()``;
- ``partial_lines`` + ``partial_answer`` (``/batch`` only, family ``hub_batch``): apply only the
  first N NDJSON lines of the request, then answer ``"error"`` (``status``, a 5xx by default),
  ``"drop"`` (reset, no answer) or ``"report"`` (200 with the other lines in ``failed``). The real
  Hub's batch is not transactional; this is how a test gets a half-applied commit.

Every rule can be limited to some of the requests it matches: ``after`` lets that many through
first, ``times`` then applies the rule to that many requests only (None: all). Matches are counted
per rule key from the moment the rules are set (``snapshot()["matched"]``), so
``{"hub_batch": {"partial_lines": 0, "after": 2, "times": 1}}`` cuts exactly the third batch request.

Admin routes (``/_localhub/…``) are never faulted, so a test can always switch faults off.
Rules are looked up by exact family, then by group (``cas`` = every ``cas_*`` family, ``hub`` =
``hub_api``, ``hub_resolve``, ``xet_token``), then ``*``. Draws use one seeded RNG, so a run with a
fixed seed and a fixed request order injects the same faults.

Example::

    hub = LocalHub(faults={"cas": {"error_rate": 0.1, "status": 503, "drop_rate": 0.02}}, fault_seed=1)
    hub.faults.go_dark(); ...; hub.faults.come_back()
    # apply only the first 1000 lines of the 2nd batch request, then answer 503:
    hub = LocalHub(faults={"hub_batch": {"partial_lines": 1000, "after": 1, "times": 1}})
    # or over HTTP: PUT /_localhub/faults {"rules": {"cas_xorb": {"latency": 0.2}}, "dark": false}
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .http import Request, Response

__all__ = ["BATCH_FAMILY", "FAMILY_GROUPS", "PARTIAL_ANSWERS", "FaultInjector", "FaultRule", "parse_rules"]

logger = logging.getLogger(__name__)

#: Groups a rule may name instead of one family.
FAMILY_GROUPS: dict[str, tuple[str, ...]] = {
    "cas": ("cas_dedup", "cas_xorb", "cas_shard", "cas_reconstruction", "cas_data"),
    "hub": ("hub_api", "hub_batch", "hub_resolve", "xet_token"),
}
#: The only family ``partial_lines`` acts on (``POST /api/buckets/{ns}/{b}/batch``).
BATCH_FAMILY = "hub_batch"
#: What a partially applied batch answers.
PARTIAL_ANSWERS = ("error", "drop", "report")
#: Families a rule may name (``admin`` is deliberately absent: it is never faulted).
FAMILIES = (*FAMILY_GROUPS["cas"], *FAMILY_GROUPS["hub"], "telemetry", "unknown")
#: Statuses an injected error may have: the transient ones clients are expected to retry, plus 500.
ERROR_STATUSES = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class FaultRule:
    """What to do to requests of one family (or group). Every field defaults to "no fault"."""

    error_rate: float = 0.0
    status: int = 503
    #: seconds announced in ``Retry-After`` on injected errors (None: no header)
    retry_after: float | None = None
    latency: float = 0.0
    drop_rate: float = 0.0
    #: let this many matching requests through untouched before the rule applies
    after: int = 0
    #: then apply the rule to this many matching requests only (None: every one)
    times: int | None = None
    #: ``/batch`` only: apply the first N lines of the request, withhold the rest (None: off)
    partial_lines: int | None = None
    #: after a partial apply: "error" (answer ``status``), "drop" (reset, no answer), "report" (200 + failed)
    partial_answer: str = "error"

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        if self.error_rate + self.drop_rate > 1.0:
            raise ValueError(f"error_rate + drop_rate must be at most 1, got {self.error_rate + self.drop_rate}")
        if isinstance(self.status, bool) or self.status not in ERROR_STATUSES:
            raise ValueError(f"status must be one of {ERROR_STATUSES}, got {self.status!r}")
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool) or not isinstance(self.retry_after, (int, float)) or self.retry_after < 0
        ):
            raise ValueError(f"retry_after must be a non-negative number of seconds or null, got {self.retry_after!r}")
        if isinstance(self.latency, bool) or not isinstance(self.latency, (int, float)) or not 0 <= self.latency <= 600:
            raise ValueError(f"latency must be between 0 and 600 seconds, got {self.latency!r}")
        if not _is_int(self.after) or self.after < 0:
            raise ValueError(f"after must be a non-negative integer (requests to let through), got {self.after!r}")
        if self.times is not None and (not _is_int(self.times) or self.times < 1):
            raise ValueError(f"times must be a positive integer or null (every request), got {self.times!r}")
        if self.partial_lines is not None and (not _is_int(self.partial_lines) or self.partial_lines < 0):
            raise ValueError(f"partial_lines must be a non-negative integer or null, got {self.partial_lines!r}")
        if self.partial_answer not in PARTIAL_ANSWERS:
            raise ValueError(f"partial_answer must be one of {PARTIAL_ANSWERS}, got {self.partial_answer!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_rules(raw: Mapping[str, Any] | None) -> dict[str, FaultRule]:
    """``{"cas": {"error_rate": 0.1, ...}, ...}`` -> validated rules; raises ``ValueError`` with the reason."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError('rules must be an object such as {"cas": {"error_rate": 0.1, "status": 503}}')
    fields = set(FaultRule.__dataclass_fields__)
    known = (*FAMILY_GROUPS, *FAMILIES, "*")
    out: dict[str, FaultRule] = {}
    for key, value in raw.items():
        if key not in known:
            raise ValueError(f"unknown route family {key!r}; use one of {', '.join(known)}")
        if isinstance(value, FaultRule):
            out[key] = value
            continue
        if not isinstance(value, Mapping):
            raise ValueError(f"the rule for {key!r} must be an object, got {type(value).__name__}")
        unknown = set(value) - fields
        if unknown:
            raise ValueError(f"unknown fault setting(s) {sorted(unknown)} for {key!r}; known: {sorted(fields)}")
        try:
            out[key] = FaultRule(**value)
        except TypeError as exc:  # e.g. a non-hashable status
            raise ValueError(f"bad rule for {key!r}: {exc}") from None
    for key, rule in out.items():
        if rule.partial_lines is not None and key not in (BATCH_FAMILY, "hub", "*"):
            raise ValueError(f"partial_lines acts on /batch only: put it under {BATCH_FAMILY!r}, not {key!r}")
    return out


def _unbound(req: Request) -> Response:
    raise RuntimeError("FaultInjector.bind() was not called")


class FaultInjector:
    """``dispatch(request) -> Response`` with faults: wraps the app the HTTP server calls.

    Thread-safe: rules are replaced atomically, counters are locked, the RNG is drawn under a lock.
    """

    def __init__(
        self,
        app: Callable[[Request], Response] | None = None,
        *,
        family_of: Callable[[Request], str] | None = None,
        rules: Mapping[str, Any] | None = None,
        dark: bool = False,
        seed: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        #: the wrapped dispatcher and its family lookup; set by :meth:`bind` (LocalHub binds on each start)
        self._app: Callable[[Request], Response] = app or _unbound
        self._family_of: Callable[[Request], str] = family_of or (lambda req: "unknown")
        self._lock = threading.Lock()
        self._rules = parse_rules(rules)
        self._rng = random.Random(seed)
        self._seed = seed
        self._stop = stop or threading.Event()
        self._light = threading.Event()  # set = answering; cleared while dark
        if not dark:
            self._light.set()
        self._counts: Counter[str] = Counter()
        #: requests each rule key matched since the rules were set (what ``after`` / ``times`` count)
        self._matched: Counter[str] = Counter()

    def bind(self, app: Callable[[Request], Response], family_of: Callable[[Request], str]) -> FaultInjector:
        """Wrap ``app`` (keeping rules and counters: a restarted hub keeps its faults)."""
        self._app, self._family_of = app, family_of
        return self

    # --- control ------------------------------------------------------------------------------------

    def configure(
        self, rules: Mapping[str, Any] | None = None, *, dark: bool | None = None, seed: int | None = None
    ) -> None:
        """Replace the rules (when given), go dark / come back (when ``dark`` is given), reseed."""
        parsed = parse_rules(rules) if rules is not None else None
        with self._lock:
            if parsed is not None:
                self._rules = parsed
                self._matched = Counter()
            if seed is not None:
                self._rng.seed(seed)
                self._seed = seed
        if dark is True:
            self.go_dark()
        elif dark is False:
            self.come_back()

    def clear(self) -> None:
        """No rules, answering."""
        self.configure({}, dark=False)

    def go_dark(self) -> None:
        """Stop answering: every request (except admin) hangs with its connection open."""
        self._light.clear()

    def come_back(self) -> None:
        """Answer again; requests held while dark get their connection reset (they timed out long ago)."""
        self._light.set()

    @property
    def dark(self) -> bool:
        return not self._light.is_set()

    def snapshot(self) -> dict[str, Any]:
        """Current rules, dark flag, seed and what was injected so far (for ``stats()`` and the admin route)."""
        with self._lock:
            return {
                "rules": {k: asdict(v) for k, v in self._rules.items()},
                "dark": self.dark,
                "seed": self._seed,
                "injected": dict(self._counts),
                "matched": dict(self._matched),
            }

    # --- dispatch -----------------------------------------------------------------------------------

    def _rule_for(self, family: str) -> tuple[str, FaultRule] | None:
        rules = self._rules
        if family in rules:
            return family, rules[family]
        for group, members in FAMILY_GROUPS.items():
            if family in members and group in rules:
                return group, rules[group]
        return ("*", rules["*"]) if "*" in rules else None

    def _active_rule(self, family: str) -> FaultRule | None:
        """The rule for this request if its ``after`` / ``times`` window includes it (call under the lock)."""
        found = self._rule_for(family)
        if found is None:
            return None
        key, rule = found
        self._matched[key] += 1
        n = self._matched[key]
        if n <= rule.after or (rule.times is not None and n > rule.after + rule.times):
            return None
        return rule

    def _count(self, what: str, family: str) -> None:
        with self._lock:
            self._counts[what] += 1
            self._counts[f"{what}:{family}"] += 1

    def __call__(self, req: Request) -> Response:
        family = self._family_of(req)
        if family == "admin":
            return self._app(req)
        if not self._light.is_set():
            return self._hold(req, family)
        with self._lock:
            rule = self._active_rule(family)
            draw = self._rng.random() if rule is not None else 1.0
        if rule is None:
            return self._app(req)
        if rule.latency > 0:
            self._count("delayed", family)
            if self._stop.wait(rule.latency):
                return self._reset()
        if draw < rule.error_rate:
            self._count("errors", family)
            return self._error(rule, family)
        if draw < rule.error_rate + rule.drop_rate:
            self._count("drops", family)
            return self._drop(req)
        if rule.partial_lines is not None and family == BATCH_FAMILY:
            return self._partial_batch(req, rule, family)
        return self._app(req)

    def _hold(self, req: Request, family: str) -> Response:
        self._count("held_dark", family)
        # Poll so that stop() releases held threads even if nobody calls come_back().
        while not self._stop.is_set() and not self._light.wait(0.2):
            pass
        logger.info("%s %s was held while the hub was dark; resetting its connection", req.method, req.path)
        return self._reset()

    @staticmethod
    def _reset() -> Response:
        response = Response.empty(500)
        response.abort = "silent"
        response.close_connection = True
        return response

    @staticmethod
    def _error(rule: FaultRule, family: str) -> Response:
        headers = {"X-Error-Code": "InjectedFault", "X-Error-Message": f"Injected fault ({family})."}
        if rule.retry_after is not None:
            headers["Retry-After"] = str(int(rule.retry_after)) if rule.retry_after == int(rule.retry_after) else str(rule.retry_after)
        return Response.json(rule.status, {"error": f"Injected fault on {family} (local Hub fault injection)."}, headers)

    def _drop(self, req: Request) -> Response:
        if req.content_length > 0:
            # The client is sending a body: take about half of it, then vanish (reset, no answer).
            req.discard(max(1, req.content_length // 2))
            return self._reset()
        response = self._app(req)
        response.abort = "mid-body"
        response.close_connection = True
        return response

    def _partial_batch(self, req: Request, rule: FaultRule, family: str) -> Response:
        """Let the batch route see only the first ``partial_lines`` lines, then answer as the rule says."""
        assert rule.partial_lines is not None
        keep = rule.partial_lines
        withheld: list[bytes] = []
        seen: list[int] = []

        def first_lines(raw: bytes) -> bytes:
            # Lines as the route counts them: non-blank NDJSON lines, in order.
            lines = [line for line in raw.split(b"\n") if line.strip()]
            seen.append(len(lines))
            withheld.extend(lines[keep:])
            return b"".join(line + b"\n" for line in lines[:keep])

        req.body_filter = first_lines
        response = self._app(req)
        if not seen or response.status not in (200, 422):
            # Refused before or while reading the lines (auth, missing bucket, malformed NDJSON):
            # nothing was applied, so there is nothing to fault; the client gets the real answer.
            self._count("partial_batch_passed", family)
            return response
        self._count("partial_batches", family)
        self._count(f"partial_batches_{rule.partial_answer}", family)
        with self._lock:
            self._counts["partial_lines_applied"] += seen[0] - len(withheld)
            self._counts["partial_lines_withheld"] += len(withheld)
        logger.info(
            "%s %s: applied %d of %d batch lines, then %s (injected fault)",
            req.method, req.path, seen[0] - len(withheld), seen[0], rule.partial_answer,
        )
        if rule.partial_answer == "drop":
            return self._reset()
        if rule.partial_answer == "error":
            return self._error(rule, family)
        return _report_withheld(response, withheld)


def _report_withheld(response: Response, withheld: list[bytes]) -> Response:
    """The route's report with every withheld line added to ``failed`` (answer 200, like a partial success)."""
    body = response.body
    report = json.loads(bytes(body)) if isinstance(body, (bytes, bytearray, memoryview)) else None
    if not isinstance(report, dict):
        raise TypeError("the batch route answered something other than a JSON report")
    failed = list(report.get("failed") or [])
    for line in withheld:
        try:
            op = json.loads(line)
        except ValueError:
            op = None
        path = op.get("path") if isinstance(op, dict) else None
        failed.append({"path": path if isinstance(path, str) else "",
                       "error": "Injected fault: this line was not applied (local Hub partial batch)."})
    out = {
        "success": False,
        "processed": int(report.get("processed", 0)) + len(withheld),
        "succeeded": int(report.get("succeeded", 0)),
        "failed": failed,
    }
    return Response.json(200, out, {k: v for k, v in response.headers.items() if k.lower() != "content-type"})
