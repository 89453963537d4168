"""``LocalHub``: run the local Hub in-process, on a free loopback port, as a context manager.

Example::

    from huggingface_hub import HfApi
    from hf_bucket_sink.localhub import LocalHub

    with LocalHub() as hub:                      # temp data dir, port 0 = any free port
        api = HfApi(endpoint=hub.url, token=hub.token)
        api.create_bucket("data")
        api.batch_bucket_files("local/data", add=[(b"hello", "hello.txt")])
        print(hub.stats()["xorbs_stored"])       # 1

A restart on the same ``data_dir`` keeps buckets, files and xorbs. Tokens are configuration: the
set given to the constructor replaces the previous one.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .admin_routes import stats_payload
from .app import App
from .auth import Auth
from .cas import CasStore, GcResult, remove_tree
from .catalog import Catalog, TokenRecord
from .faults import FaultInjector
from .gc import DEFAULT_GRACE, GcScheduler
from .http import CLIENT_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS, BandwidthLimiter, HubHTTPServer
from .state import HubState
from .validation import name_problem

try:  # POSIX: forbid two servers on one data directory
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USER", "LocalHub"]

logger = logging.getLogger(__name__)

DEFAULT_USER = "local"
DEFAULT_TOKEN = "hf_local_write_token"
_ROLES = ("read", "write")


class LocalHub:
    """A local Hub (Storage Bucket API + Xet CAS) served from one HTTP server.

    Args:
        data_dir: where buckets, xorbs and the catalog live; None = a temp dir removed by ``stop()``.
        host, port: where to listen; port 0 picks a free port. Binds loopback unless told otherwise.
        user, token: the default user and its write token.
        extra_tokens: more principals, as ``(user, token, "read" | "write")``.
        public_url: base written into every URL handed out (``casUrl``, data URLs, ``Link``…),
            for use behind a proxy; otherwise URLs are built from each request's ``Host``.
        cas_token_ttl: lifetime in seconds of the CAS tokens minted by the xet token routes.
        bandwidth_limit: cap in bytes/s shared by CAS upload bodies and data/resolve downloads.
        page_size: entries per page of tree and bucket listings (``Link`` pagination).
        fsync: fsync xorb files and their directory before they become visible (slower, durable).
        faults: fault-injection rules per route family or group, e.g.
            ``{"cas": {"error_rate": 0.1, "status": 503, "drop_rate": 0.02}}`` (see :mod:`.faults`);
            changeable later through :attr:`faults` or ``PUT /_localhub/faults``.
        fault_seed: seed of the fault RNG (None: random), so a faulty run can be replayed.
        dark: start "dark": accept connections but answer nothing until ``faults.come_back()``.
        client_timeout: seconds a client may stay silent mid-request (or idle between requests)
            before its connection is closed: the time limit for slow clients.
        admin_token: when set, ``/_localhub/`` admin routes (except ``health``) need
            ``Authorization: Bearer <admin_token>``; when None they answer loopback peers only.
        cdn_port: port of the second listening socket, the "CDN" origin that serves signed,
            token-free download URLs (resolve redirects, xorb data); 0 picks a free port.
        cdn_public_url: base of the signed URLs when the CDN port is behind a proxy (default: its
            local URL).
        signed_url_ttl: lifetime in seconds of a signed resolve URL.
        header_timeout: seconds a client may take to send a request line and headers, from its
            first byte (a slowloris client trickling bytes is cut after this).
        max_connections: open connections per listening socket; at the cap, the connection waiting
            longest for a request is closed for the newcomer, or the newcomer gets 503.
        gc_interval: run garbage collection every this many seconds (None: only on request).
        gc_grace: seconds during which unreferenced uploads are kept (uploads in progress; see :mod:`.gc`).

    The default ``token`` is the fixed ``hf_local_write_token`` because tests rely on it; the
    ``hf-bucket-sink serve`` command generates a random one instead (docs/localhub.md, *Security*).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = DEFAULT_USER,
        token: str = DEFAULT_TOKEN,
        extra_tokens: Sequence[tuple[str, str, str]] = (),
        public_url: str | None = None,
        cas_token_ttl: float = 3600,
        bandwidth_limit: float | None = None,
        page_size: int = 1000,
        fsync: bool = False,
        faults: Mapping[str, Any] | None = None,
        fault_seed: int | None = None,
        dark: bool = False,
        client_timeout: float = CLIENT_TIMEOUT,
        admin_token: str | None = None,
        cdn_port: int = 0,
        cdn_public_url: str | None = None,
        signed_url_ttl: float = 3600,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        gc_interval: float | None = None,
        gc_grace: float = DEFAULT_GRACE,
    ) -> None:
        records = [TokenRecord(token, user, "write", "default")]
        for entry in extra_tokens:
            if len(entry) != 3:
                raise ValueError(f"extra token {entry!r} must be (user, token, 'read' | 'write')")
            name, value, role = entry
            if role not in _ROLES:
                raise ValueError(f"extra token for {name!r}: role must be 'read' or 'write', got {role!r}")
            records.append(TokenRecord(value, name, role, f"{name}-{role}"))
        for rec in records:
            problem = name_problem(rec.user, what="user name")
            if problem is not None or rec.user == "me":
                raise ValueError(f"invalid user name {rec.user!r}: {problem or 'reserved'}")
            if not rec.token or any(c.isspace() for c in rec.token):
                raise ValueError(f"token for {rec.user!r} must be non-empty and contain no whitespace")
        if len({r.token for r in records}) != len(records):
            raise ValueError("tokens must be unique")
        if cas_token_ttl <= 0:
            raise ValueError(f"cas_token_ttl must be positive, got {cas_token_ttl!r}")
        if not client_timeout > 0:
            raise ValueError(f"client_timeout must be positive, got {client_timeout!r}")
        if admin_token is not None and (not admin_token or any(c.isspace() for c in admin_token)):
            raise ValueError("admin_token must be non-empty and contain no whitespace")
        if not header_timeout > 0:
            raise ValueError(f"header_timeout must be positive, got {header_timeout!r}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
        if gc_interval is not None and not gc_interval > 0:
            raise ValueError(f"gc_interval must be positive or None, got {gc_interval!r}")
        if not gc_grace >= 0:
            raise ValueError(f"gc_grace must be at least 0, got {gc_grace!r}")
        if not signed_url_ttl > 0:
            raise ValueError(f"signed_url_ttl must be positive, got {signed_url_ttl!r}")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size!r}")
        self._data_dir_arg = Path(data_dir) if data_dir is not None else None
        self.host = host
        self._port_arg = port
        self.user = user
        self.token = token
        self._tokens = records
        self._public_url = public_url.rstrip("/") if public_url else None
        self._cas_token_ttl = float(cas_token_ttl)
        self._page_size = page_size
        self._fsync = fsync
        self._stop_event = threading.Event()
        self._limiter = BandwidthLimiter(bandwidth_limit, stop=self._stop_event)
        self._client_timeout = float(client_timeout)
        self._admin_token = admin_token
        #: fault injection in front of every route (survives stop()/start(); see :mod:`.faults`)
        self.faults = FaultInjector(rules=faults, dark=dark, seed=fault_seed, stop=self._stop_event)
        self._cdn_port_arg = cdn_port
        self._cdn_public_url = cdn_public_url.rstrip("/") if cdn_public_url else None
        self._signed_url_ttl = float(signed_url_ttl)
        self._header_timeout = float(header_timeout)
        self._max_connections = max_connections
        self._gc_interval = gc_interval
        self._gc_grace = float(gc_grace)
        self._gc: GcScheduler | None = None
        self._server: HubHTTPServer | None = None
        self._cdn_server: HubHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cdn_thread: threading.Thread | None = None
        self._catalog: Catalog | None = None
        self._state: HubState | None = None
        self._lock_file: IO[Any] | None = None
        self._owned_dir: Path | None = None
        self.data_dir: Path = self._data_dir_arg or Path()
        self.port = 0
        self.cdn_port = 0

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> LocalHub:
        """Open the data directory and start serving; returns once the socket is listening."""
        if self._server is not None:
            raise RuntimeError("LocalHub is already running")
        self._stop_event.clear()
        if self._data_dir_arg is None:
            self._owned_dir = Path(tempfile.mkdtemp(prefix="localhub-"))
            self.data_dir = self._owned_dir
        else:
            self.data_dir = self._data_dir_arg
            self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock_data_dir()
            self._catalog = Catalog(self.data_dir / "catalog.sqlite3")
            self._catalog.replace_tokens(self._tokens)
            secret = self._catalog.meta("secret") or ""
            store_id = self._catalog.meta("store_id") or ""
            auth = Auth(self._tokens, secret=bytes.fromhex(secret), cas_token_ttl=self._cas_token_ttl)
            cas = CasStore(self.data_dir, self._catalog, fsync=self._fsync)
            self._state = HubState(
                catalog=self._catalog,
                cas=cas,
                auth=auth,
                limiter=self._limiter,
                store_id=store_id,
                public_url=self._public_url,
                page_size=self._page_size,
                faults=self.faults,
                admin_token=self._admin_token,
                signed_url_ttl=self._signed_url_ttl,
                gc_grace=self._gc_grace,
            )
            app = App(self._state)
            self.faults.bind(app, app.family_of)
            self._server = HubHTTPServer(
                (self.host, self._port_arg),
                self.faults,
                limiter=self._limiter,
                stop_event=self._stop_event,
                client_timeout=self._client_timeout,
                header_timeout=self._header_timeout,
                max_connections=self._max_connections,
            )
            self._cdn_server = HubHTTPServer(
                (self.host, self._cdn_port_arg),
                self.faults,
                limiter=self._limiter,
                stop_event=self._stop_event,
                client_timeout=self._client_timeout,
                origin="cdn",
                header_timeout=self._header_timeout,
                max_connections=self._max_connections,
            )
        except BaseException:
            for server in (self._server, self._cdn_server):
                if server is not None:
                    server.server_close()
            self._server = self._cdn_server = None
            self._release()
            raise
        self.port = self._server.server_address[1]
        self.cdn_port = self._cdn_server.server_address[1]
        self._state.cdn_url = self.cdn_url
        # URLs handed out are built from configuration only, never from a request's Host header.
        self._state.public_url = self.url
        hub_server, cdn_server = self._server, self._cdn_server
        self._state.connection_stats = lambda: {
            "hub": hub_server.connection_stats(),
            "cdn": cdn_server.connection_stats(),
        }
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"localhub:{self.port}"
        )
        self._cdn_thread = threading.Thread(
            target=self._cdn_server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"localhub-cdn:{self.cdn_port}"
        )
        self._thread.start()
        self._cdn_thread.start()
        if self._gc_interval is not None:
            self._gc = GcScheduler(self._state.collect_garbage, self._gc_interval, self._stop_event)
            self._gc.start()
        logger.info("local Hub listening on %s (data dir %s)", self.url, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop serving, join every thread, close the catalog; remove the data dir if it was temporary."""
        server, self._server = self._server, None
        cdn, self._cdn_server = self._cdn_server, None
        for srv in (server, cdn):
            if srv is not None:
                srv.stop()
        self._stop_event.set()  # also ends the GC schedule
        for thread in (self._thread, self._cdn_thread):
            if thread is not None:
                thread.join()
        if self._gc is not None:
            self._gc.join()
            self._gc = None
        self._thread = self._cdn_thread = None
        self._release()

    def _release(self) -> None:
        if self._state is not None:
            self._state.grants.clear()
            self._state = None
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None
        if self._owned_dir is not None:
            remove_tree(self._owned_dir)
            self._owned_dir = None

    def _lock_data_dir(self) -> None:
        self._lock_file = open(self.data_dir / ".lock", "w")  # noqa: SIM115 - held until stop()
        if fcntl is None:
            return
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RuntimeError(f"data directory {self.data_dir} is already used by another local Hub") from None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- information -----------------------------------------------------------------------------

    @property
    def local_url(self) -> str:
        """``http://host:port`` of the listening socket (wildcard hosts shown as loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL clients should use: ``public_url`` if set, else :attr:`local_url`."""
        return self._public_url or self.local_url

    @property
    def cdn_url(self) -> str:
        """Base URL of the CDN origin (signed download URLs): ``cdn_public_url`` or the local socket."""
        if self._cdn_public_url:
            return self._cdn_public_url
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.cdn_port}"

    def cdn_requests(self) -> list[dict[str, Any]]:
        """Method, path and headers of the last (up to 256) requests the CDN origin answered."""
        return list(self._require_state().cdn_log)

    @property
    def store_id(self) -> str:
        return self._require_state().store_id

    def _require_state(self) -> HubState:
        if self._state is None:
            raise RuntimeError("LocalHub is not running; call start() or use it as a context manager")
        return self._state

    def stats(self) -> dict[str, Any]:
        """Counters since start (see :data:`.state.COUNTERS`), requests per route family, catalog totals."""
        return stats_payload(self._require_state())

    def set_bandwidth_limit(self, bytes_per_s: float | None) -> None:
        """Cap (or with None, uncap) CAS upload bodies and data/resolve downloads, shared by all clients."""
        self._limiter.set_rate(bytes_per_s)

    def collect_garbage(self, grace: float | None = None) -> GcResult:
        """Remove xorbs and shard records no bucket file references (older than ``grace``, default ``gc_grace``)."""
        return self._require_state().collect_garbage(grace)

    def set_faults(self, rules: Mapping[str, Any] | None = None, *, dark: bool | None = None) -> None:
        """Replace the fault rules (``{}`` clears them) and/or go dark (True) / come back (False)."""
        self.faults.configure(rules, dark=dark)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalHub({self.url if self.running else '-'}, data_dir={str(self.data_dir)!r}, {state})"
