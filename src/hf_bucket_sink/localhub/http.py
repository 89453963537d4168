"""The HTTP/1.1 transport of the local Hub: requests, responses, throttling and the threaded server.

Nothing here knows about buckets or Xet. The server calls one ``dispatch(request) -> Response``
callable per request (see :mod:`.app`); wrapping that callable is how later layers (fault
injection: error rates, latency, dropped connections) plug in without touching routes.

Why a stdlib server: the official clients use plain HTTP/1.1 keep-alive with ``Content-Length``
bodies, so ``http.server`` plus large reads, ``sendfile`` for stored bytes and a few socket
options is enough to move several hundred MB/s on loopback.

Example::

    def dispatch(req: Request) -> Response:
        return Response.json(200, {"path": req.path})

    server = HubHTTPServer(("127.0.0.1", 0), dispatch)
    threading.Thread(target=server.serve_forever).start()
    ...
    server.stop()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .wire import WireError, bad_request, payload_too_large, range_not_satisfiable

__all__ = [
    "BandwidthLimiter",
    "ClientDisconnected",
    "FileRange",
    "HubHTTPServer",
    "Request",
    "Response",
    "parse_ranges",
]

logger = logging.getLogger(__name__)

#: Block size for reading and writing bodies: large enough to keep syscalls rare.
IO_BLOCK = 1 << 20
#: Block size when a bandwidth limit is active, so throttled transfers stay smooth.
THROTTLED_BLOCK = 64 << 10
#: Unread request bodies up to this size are drained (keep-alive); larger ones close the connection.
MAX_DRAIN = 256 << 20
#: Former idle limit, kept for importers; the server now uses ``client_timeout`` (CLIENT_TIMEOUT) for idle
#: keep-alive connections and for silence mid-request alike.
IDLE_TIMEOUT = 300.0
#: Default limit on the silence of a client in the middle of a request (headers or body), in seconds.
CLIENT_TIMEOUT = 60.0


class ClientDisconnected(Exception):
    """The peer closed the connection while a body was being read or written."""


class BandwidthLimiter:
    """A shared token bucket: every throttled byte, in either direction, draws from one budget.

    ``consume(n)`` reserves ``n`` bytes and sleeps off any debt, so concurrent transfers share the
    rate fairly enough; ``None`` disables the limit. Sleeps wake early when ``stop`` is set.
    """

    def __init__(self, bytes_per_s: float | None = None, *, stop: threading.Event | None = None) -> None:
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()
        self._rate: float | None = None
        self._tokens = 0.0
        self._stamp = time.monotonic()
        self.set_rate(bytes_per_s)

    @property
    def rate(self) -> float | None:
        return self._rate

    def set_rate(self, bytes_per_s: float | None) -> None:
        if bytes_per_s is not None and not bytes_per_s > 0:
            raise ValueError(f"bandwidth limit must be a positive number of bytes per second, got {bytes_per_s!r}")
        with self._lock:
            self._rate = float(bytes_per_s) if bytes_per_s is not None else None
            self._tokens = 0.0
            self._stamp = time.monotonic()

    def consume(self, n: int) -> None:
        with self._lock:
            rate = self._rate
            if rate is None:
                return
            now = time.monotonic()
            burst = rate * 0.05  # ~50 ms of burst keeps short requests snappy without overshooting
            self._tokens = min(burst, self._tokens + (now - self._stamp) * rate) - n
            self._stamp = now
            debt = -self._tokens / rate if self._tokens < 0 else 0.0
        if debt > 0:
            self._stop.wait(debt)


@dataclass(frozen=True)
class FileRange:
    """A response body read straight from a file: ``length`` bytes from ``offset`` (sent with sendfile)."""

    path: str
    offset: int
    length: int


@dataclass
class Response:
    """What a handler returns. ``body`` is bytes, an iterable of bytes, or a :class:`FileRange`."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] | FileRange = b""
    #: Required when ``body`` is an iterable, and for HEAD answers; derived from ``body`` otherwise.
    content_length: int | None = None
    #: Draw the body from the bandwidth limiter (data and resolve downloads).
    throttle: bool = False
    close_connection: bool = False
    #: Fault injection: ``"silent"`` resets the connection without answering; ``"mid-body"`` sends the
    #: headers and about half of the body, then resets it (see :mod:`.faults`).
    abort: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        data = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, data)

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, dict(headers or {}), b"")

    @classmethod
    def from_error(cls, err: WireError) -> Response:
        resp = cls.json(err.status, err.body, err.headers)
        resp.close_connection = err.close_connection
        return resp

    def length(self) -> int:
        """The ``Content-Length`` to announce (for HEAD: of the body a GET would return)."""
        if self.content_length is not None:
            return self.content_length
        if isinstance(self.body, (bytes, bytearray, memoryview)):
            return len(self.body)
        if isinstance(self.body, FileRange):
            return self.body.length
        if self.content_length is None:
            raise ValueError("a streamed response needs content_length")
        return self.content_length


class Request:
    """One parsed request. The body is read lazily (:meth:`body`), so handlers can reject early."""

    def __init__(self, handler: _Handler) -> None:
        self._handler = handler
        self.method: str = handler.command
        self.target: str = handler.path
        split = urlsplit(handler.path)
        #: The raw (still percent-encoded) path; routes match on it and decode their own captures.
        self.path: str = split.path
        self.query: dict[str, list[str]] = parse_qs(split.query, keep_blank_values=True)
        self.headers = handler.headers
        self.client_address: tuple[Any, ...] = handler.client_address
        self.server_address: tuple[Any, ...] = handler.server.server_address
        self.request_id: str = os.urandom(8).hex()
        self.started = time.monotonic()
        #: Set by the router: maximum accepted body size, and whether reading it is throttled.
        self.max_body: int = 0
        self.throttle_body: bool = False
        self._remaining = self._declared_length()
        self.body_bytes_read = 0
        #: Fault injection: rewrites the body once it is read (e.g. keep the first N lines of a batch).
        self.body_filter: Callable[[bytes], bytes] | None = None

    def _declared_length(self) -> int:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # Neither official client chunks bodies; refusing keeps the reader simple and keep-alive sane.
            raise WireError(411, "Chunked request bodies are not supported; send Content-Length.", close_connection=True)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        try:
            value = int(raw)
        except ValueError:
            raise WireError(400, f"Invalid Content-Length {raw!r}.", close_connection=True) from None
        if value < 0:
            raise WireError(400, f"Invalid Content-Length {raw!r}.", close_connection=True)
        return value

    # --- convenience accessors -------------------------------------------------------------

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def content_length(self) -> int:
        return self._remaining + self.body_bytes_read

    @property
    def host(self) -> str | None:
        return self.headers.get("Host")

    # --- body ----------------------------------------------------------------------------------

    def body(self) -> bytes:
        """Read the whole body (at most ``max_body`` bytes, else 413 without reading it)."""
        n = self._remaining
        if n > self.max_body:
            raise payload_too_large(self.max_body)
        if n == 0:
            return b""
        rfile = self._handler.rfile
        limiter = self._handler.server.limiter if self.throttle_body else None
        try:
            if limiter is None or limiter.rate is None:
                data = rfile.read(n)
                if len(data) != n:
                    raise ClientDisconnected(f"body ended after {len(data)} of {n} bytes")
            else:
                buf = bytearray(n)
                view = memoryview(buf)
                got = 0
                while got < n:
                    step = min(THROTTLED_BLOCK, n - got)
                    limiter.consume(step)
                    k = rfile.readinto(view[got : got + step])
                    if not k:
                        raise ClientDisconnected(f"body ended after {got} of {n} bytes")
                    got += k
                data = bytes(buf)
        except (ConnectionError, TimeoutError, OSError) as exc:
            if isinstance(exc, ClientDisconnected):
                raise
            raise ClientDisconnected(str(exc)) from exc
        self._remaining = 0
        self.body_bytes_read += n
        if self.body_filter is not None:
            data = self.body_filter(data)
        return data

    def json(self) -> Any:
        """Parse the body as JSON (400 on anything else). An empty body reads as ``{}``."""
        raw = self.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"Request body is not valid JSON: {exc}") from None

    def discard(self, n: int) -> int:
        """Read and throw away up to ``n`` bytes of the body (fault injection); returns how many were read."""
        n = min(n, self._remaining)
        got = 0
        try:
            while got < n:
                chunk = self._handler.rfile.read(min(IO_BLOCK, n - got))
                if not chunk:
                    break
                got += len(chunk)
        except OSError as exc:
            logger.debug("could not read the request body: %s", exc)
        self._remaining -= got
        self.body_bytes_read += got
        return got

    def drain(self) -> bool:
        """Discard any unread body so the connection can serve the next request.

        Returns False when the body is too large to be worth draining (close the connection instead).
        """
        n = self._remaining
        if n == 0:
            return True
        if n > MAX_DRAIN:
            return False
        rfile = self._handler.rfile
        try:
            while n > 0:
                chunk = rfile.read(min(IO_BLOCK, n))
                if not chunk:
                    return False
                n -= len(chunk)
        except OSError as exc:
            logger.debug("could not drain the request body: %s", exc)
            return False
        self._remaining = 0
        return True


Dispatch = Callable[[Request], Response]


def parse_ranges(value: str | None, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header against a body of ``size`` bytes into half-open ``[start, end)`` ranges.

    Returns None when there is no usable ``bytes=`` range (serve the whole body, as RFC 9110
    allows for malformed headers); raises a 416 :class:`WireError` when no range is satisfiable.
    Supports ``a-b`` (``b`` clamped), ``a-`` and suffix ``-n``.
    """
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        if not dash:
            return None
        try:
            if first == "":
                n = int(last)
                if n < 0:
                    return None
                if n > 0 and size > 0:
                    ranges.append((max(0, size - n), size))
                continue
            start = int(first)
            end = int(last) + 1 if last else None
        except ValueError:
            return None
        if start < 0 or (end is not None and end <= start):
            return None
        if start < size:
            ranges.append((start, size if end is None else min(end, size)))
    if not ranges:
        raise range_not_satisfiable(size)
    return ranges


class _Handler(BaseHTTPRequestHandler):
    """Turns each request into a :class:`Request`, calls the dispatcher, writes the :class:`Response`."""

    protocol_version = "HTTP/1.1"
    server_version = "hf-bucket-sink-localhub"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: HubHTTPServer

    def setup(self) -> None:
        # A client silent for client_timeout seconds mid-request (or idle that long) loses its
        # connection: slow or stalled clients cannot pin a handler thread forever.
        self.timeout = self.server.client_timeout
        super().setup()
        # Small JSON answers must not wait for delayed ACKs (Nagle), big ones are written in large blocks.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            logger.debug("TCP_NODELAY not set: %s", exc)

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s - " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            request = Request(self)
        except WireError as err:
            self._write(Response.from_error(err), head=self.command == "HEAD", request_id="-")
            self.close_connection = True
            return
        response = self.server.dispatch(request)
        if response.abort is not None:
            self._abort(response, request)
            return
        if response.close_connection or not request.drain():
            self.close_connection = True
        try:
            self._write(response, head=request.method == "HEAD", request_id=request.request_id)
        except (ConnectionError, TimeoutError, ClientDisconnected) as exc:
            logger.debug("client went away while answering %s %s: %s", request.method, request.path, exc)
            self.close_connection = True
        except Exception:
            # A streamed body failed after the headers went out: all we can do is cut the connection.
            logger.exception("error while sending the body of %s %s", request.method, request.path)
            self.close_connection = True
        logger.debug(
            "%s %s -> %d (%.1f ms)",
            request.method,
            request.target,
            response.status,
            (time.monotonic() - request.started) * 1000,
        )

    def _abort(self, response: Response, request: Request) -> None:
        """Injected fault: send nothing (or the headers and half the body), then reset the connection."""
        self.close_connection = True
        if response.abort == "mid-body" and request.method != "HEAD":
            try:
                whole = _collect(response.body)
                # announce the full length, send half: the client sees the body end early
                cut = Response(response.status, response.headers, whole[: len(whole) // 2], content_length=len(whole))
                self._write(cut, head=False, request_id=request.request_id)
                self.wfile.flush()
            except (ConnectionError, TimeoutError, OSError) as exc:
                logger.debug("client went away before the injected cut: %s", exc)
        try:
            # SO_LINGER 0: close() sends a RST, which is what a crashed server or a dropped link looks like.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError as exc:
            logger.debug("SO_LINGER not set: %s", exc)
        logger.debug("%s %s: connection cut (%s, injected fault)", request.method, request.path, response.abort)

    def _write(self, response: Response, *, head: bool, request_id: str) -> None:
        length = response.length()
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        headers = {
            "Date": formatdate(usegmt=True),
            "Server": self.server_version,
            "X-Request-Id": request_id,
            **response.headers,
            "Content-Length": str(length),
        }
        if self.close_connection or response.close_connection:
            headers["Connection"] = "close"
            self.close_connection = True
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = response.body
        if head or length == 0:
            self.wfile.write(head_bytes)
            self._close_body(body)
            return
        limiter = self.server.limiter if response.throttle else None
        if limiter is not None and limiter.rate is None:
            limiter = None
        if isinstance(body, (bytes, bytearray, memoryview)):
            if limiter is None and len(body) <= IO_BLOCK:
                self.wfile.write(head_bytes + bytes(body))  # one segment for small answers
            else:
                self.wfile.write(head_bytes)
                self._send_blocks([memoryview(body)], limiter)
        elif isinstance(body, FileRange):
            self.wfile.write(head_bytes)
            self._send_file(body, limiter)
        else:
            self.wfile.write(head_bytes)
            sent = self._send_blocks(body, limiter)
            if sent != length:
                # The declared length was wrong: the connection cannot be reused.
                logger.error("streamed body was %d bytes, declared %d", sent, length)
                self.close_connection = True

    def _send_blocks(self, blocks: Iterable[bytes | memoryview], limiter: BandwidthLimiter | None) -> int:
        sent = 0
        try:
            for block in blocks:
                view = memoryview(block)
                step = IO_BLOCK if limiter is None else THROTTLED_BLOCK
                for i in range(0, len(view), step):
                    piece = view[i : i + step]
                    if limiter is not None:
                        limiter.consume(len(piece))
                    self.wfile.write(piece)
                    sent += len(piece)
        finally:
            self._close_body(blocks)
        return sent

    def _send_file(self, body: FileRange, limiter: BandwidthLimiter | None) -> None:
        with open(body.path, "rb") as f:
            if limiter is None:
                self.connection.sendfile(f, body.offset, body.length)
                return
            pos, end = body.offset, body.offset + body.length
            while pos < end:
                step = min(THROTTLED_BLOCK, end - pos)
                limiter.consume(step)
                chunk = os.pread(f.fileno(), step, pos)
                if not chunk:
                    raise ClientDisconnected(f"{body.path} is shorter than expected")
                self.wfile.write(chunk)
                pos += len(chunk)

    @staticmethod
    def _close_body(body: object) -> None:
        close = getattr(body, "close", None)
        if callable(close) and isinstance(body, Iterator):
            close()


def _collect(body: bytes | Iterable[bytes] | FileRange) -> bytes:
    """The whole body in memory (only for fault injection, which cuts it)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, FileRange):
        with open(body.path, "rb") as f:
            return os.pread(f.fileno(), body.length, body.offset)
    try:
        return b"".join(bytes(b) for b in body)
    finally:
        _Handler._close_body(body)


class HubHTTPServer(ThreadingHTTPServer):
    """A thread-per-connection HTTP/1.1 server that can be stopped with no thread left behind."""

    daemon_threads = False  # stop() joins every handler thread
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        dispatch: Dispatch,
        *,
        limiter: BandwidthLimiter | None = None,
        stop_event: threading.Event | None = None,
        client_timeout: float = CLIENT_TIMEOUT,
    ) -> None:
        self.client_timeout = client_timeout
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.dispatch = dispatch
        self.stop_event = stop_event or threading.Event()
        self.limiter = limiter or BandwidthLimiter(stop=self.stop_event)
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection resets from clients that went away are routine; anything else is logged in full.
        logger.debug("connection error from %s", client_address, exc_info=True)

    def stop(self) -> None:
        """Stop accepting, wake throttled transfers, close live connections, join every thread."""
        self.stop_event.set()
        self.shutdown()
        with self._conn_lock:
            live = list(self._connections)
        for conn in live:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError as exc:  # already closed by the peer
                logger.debug("closing connection: %s", exc)
        self.server_close()  # joins handler threads (daemon_threads is False)
