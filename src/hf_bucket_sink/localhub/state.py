"""Shared state of a running local Hub: storage handles, counters and pending xorb upload grants.

Route modules receive one :class:`HubState` and keep no state of their own. Counters
(:class:`Stats`) exist so tests and benchmarks can assert exactly what crossed the wire; they
count since the server started (the catalog totals in ``stats()["catalog"]`` cover the whole
data directory).

Example::

    state.stats.add(xorbs_stored=1, xorb_bytes_stored=len(body))
    state.stats.snapshot()["xorbs_stored"]   # 1
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .auth import Auth, CasPrincipal
from .cas import CasStore, GcResult
from .catalog import Catalog
from .http import BandwidthLimiter, Request
from .xorb import XorbInfo

__all__ = ["COUNTERS", "Grant", "GrantRegistry", "HubState", "Stats"]

#: Every counter :meth:`Stats.snapshot` reports (always present, 0 until something happens).
COUNTERS = (
    "xorbs_stored",  # new xorbs written to disk
    "xorbs_already_present",  # uploads (or grant requests) of xorbs that were already stored
    "xorbs_rejected",  # corrupted / mismatching xorb bodies refused with 400
    "xorb_bytes_received",  # serialized xorb bytes read from upload bodies (POST /v1/xorbs + grant PUTs)
    "xorb_bytes_stored",  # serialized bytes of the xorbs newly stored
    "raw_chunk_bytes_stored",  # uncompressed chunk bytes of the xorbs newly stored
    "grants_issued",
    "shards_received",  # shards accepted (new or repeated)
    "shards_rejected",
    "shard_bytes_received",
    "files_registered",  # batch addFile / copyFile operations applied
    "files_deleted",  # batch deleteFile operations applied
    "batch_failures",  # batch operations reported in "failed"
    "dedup_queries",
    "dedup_hits",
    "reconstructions",
    "data_bytes_sent",  # bytes served from xorb data URLs
    "resolve_bytes_sent",  # file bytes served by GET /buckets/.../resolve/...
    "xet_tokens_issued",
    "gc_runs",  # garbage collections (admin route, schedule, LocalHub.collect_garbage)
    "gc_xorbs_removed",
    "gc_bytes_freed",  # serialized xorb bytes removed by GC
)


class Stats:
    """Thread-safe counters plus request counts per route family and per status class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._requests: Counter[str] = Counter()
        self._started: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self.started_at = time.time()

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                if name not in self._counters:
                    raise KeyError(f"unknown counter {name!r}")
                self._counters[name] += amount

    def started(self, family: str) -> None:
        """A request of ``family`` arrived (``requests`` counts answered ones: a test waiting for an upload
        to be *in flight* — e.g. one large direct xorb POST — needs this one)."""
        with self._lock:
            self._started[family] += 1

    def request(self, family: str, status: int) -> None:
        with self._lock:
            self._requests[family] += 1
            self._statuses[f"{status // 100}xx"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self._counters)
            out["requests"] = dict(self._requests)
            out["requests_started"] = dict(self._started)
            out["responses"] = dict(self._statuses)
        out["uptime_s"] = round(time.time() - self.started_at, 3)
        return out


@dataclass
class Grant:
    """A pending xorb upload grant (xet-cas-protocol.md §3.2–3.4)."""

    id: str
    xorb_hex: str
    length: int
    checksum: str | None
    principal: CasPrincipal
    expires: float
    staged: tuple[XorbInfo, Path] | None = None


class GrantRegistry:
    """Grants live in memory: a restart simply makes clients ask again (commit 404 → new grant)."""

    TTL = 3600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}

    def issue(self, xorb_hex: str, length: int, checksum: str | None, principal: CasPrincipal) -> Grant:
        grant = Grant(secrets.token_urlsafe(24), xorb_hex, length, checksum, principal, time.time() + self.TTL)
        with self._lock:
            self._expire_locked()
            self._grants[grant.id] = grant
        return grant

    def get(self, grant_id: str) -> Grant | None:
        with self._lock:
            grant = self._grants.get(grant_id)
        if grant is None or grant.expires < time.time():
            return None
        return grant

    def stage(self, grant_id: str, info: XorbInfo, path: Path) -> bool:
        """Attach an uploaded, verified body to a grant (replacing an earlier upload)."""
        with self._lock:
            grant = self._grants.get(grant_id)
            if grant is None:
                return False
            old, grant.staged = grant.staged, (info, path)
        if old is not None:
            old[1].unlink(missing_ok=True)
        return True

    def pop(self, grant_id: str) -> Grant | None:
        with self._lock:
            return self._grants.pop(grant_id, None)

    def _expire_locked(self) -> None:
        now = time.time()
        for gid in [g.id for g in self._grants.values() if g.expires < now]:
            grant = self._grants.pop(gid)
            if grant.staged is not None:
                grant.staged[1].unlink(missing_ok=True)

    def clear(self) -> None:
        with self._lock:
            grants, self._grants = list(self._grants.values()), {}
        for grant in grants:
            if grant.staged is not None:
                grant.staged[1].unlink(missing_ok=True)


@dataclass
class HubState:
    """Everything a route handler may touch."""

    catalog: Catalog
    cas: CasStore
    auth: Auth
    limiter: BandwidthLimiter
    store_id: str
    public_url: str | None = None
    page_size: int = 1000
    stats: Stats = field(default_factory=Stats)
    grants: GrantRegistry = field(default_factory=GrantRegistry)
    #: the :class:`~.faults.FaultInjector` in front of the app (admin routes configure it), if any
    faults: Any = None
    #: when set, admin routes need ``Authorization: Bearer <admin_token>``; else they answer loopback peers only
    admin_token: str | None = None
    #: base URL of the CDN origin (signed download URLs; see :mod:`.cdn_routes`), set once it listens
    cdn_url: str = ""
    #: lifetime in seconds of signed download URLs (resolve redirects, xorb data URLs)
    signed_url_ttl: float = 3600.0
    #: method, path and headers of the last requests to the CDN origin (tests check no token reaches it)
    cdn_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=256))
    #: default grace period of garbage collection (see :mod:`.gc`)
    gc_grace: float = 24 * 3600.0
    #: what the connection limits did (open, refused, evicted, header_timeouts), per origin
    connection_stats: Callable[[], dict[str, Any]] | None = None

    def collect_garbage(self, grace: float | None = None) -> GcResult:
        result = self.cas.collect_garbage(self.gc_grace if grace is None else grace)
        self.stats.add(gc_runs=1, gc_xorbs_removed=result.xorbs, gc_bytes_freed=result.xorb_bytes)
        return result

    def cdn_base_url(self) -> str:
        if not self.cdn_url:
            raise RuntimeError("the CDN origin of the local Hub is not listening")
        return self.cdn_url

    def record_cdn_request(self, req: Request) -> None:
        self.cdn_log.append({"method": req.method, "path": req.target, "headers": dict(req.headers.items())})

    def base_url(self, req: Request) -> str:
        """Absolute base for every URL handed out: the configured public URL, never the ``Host`` header.

        A client-chosen ``Host`` must not steer where other clients send tokens and data (casUrl,
        ``Link`` pages, redirects). Without a configured URL: the address this server listens on.
        """
        if self.public_url:
            return self.public_url
        addr, port = req.server_address[0], req.server_address[1]
        return f"http://[{addr}]:{port}" if ":" in str(addr) else f"http://{addr}:{port}"

    def cas_url(self, req: Request) -> str:
        # The store id makes the CAS URL unique per data directory: hf_xet caches shards per CAS URL,
        # so a wiped data dir served again on the same port is never mistaken for the old one.
        return f"{self.base_url(req)}/cas/{self.store_id}"
