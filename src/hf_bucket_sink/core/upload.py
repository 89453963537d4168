"""The upload path: ``BucketWriter`` (a write-only file for Polars) and ``UploadSession``.

One ``UploadSession`` is one ``hf_xet`` upload commit plus the files it will register;
each ``BucketWriter`` is one streaming file in it::

    with UploadSession(hub, "me/b", access) as session:     # abort() on exception
        w = session.open_writer(BucketPath.parse("hf://buckets/me/b/x.parquet"))
        lf.sink_parquet(w)                                   # Polars pushes bytes
        result = session.commit()                            # finish, wait, register

Data flow and memory (see docs/architecture.md)::

    Polars thread --write()--> buffer (<= block_bytes) --> Queue(maxsize=queue_blocks)
        --> uploader thread --XetStreamUpload.write()--> hf_xet pipeline --> CAS

``write()`` blocks when the queue is full, and ``XetStreamUpload.write()`` blocks when
hf_xet has no room: that is the backpressure.  Our own buffering is bounded by
``(queue_blocks + 2) * block_bytes`` per open file.

Partitioned sinks open one file per partition, possibly hundreds at once, so they use
:class:`PartitionWriter` instead: no thread, a small buffer grown on demand, writes go straight
into hf_xet on Polars' thread; Polars gets a thin handle, and when Polars drops it (it never
calls ``close()``; dropping is the one sure sign it is done) the file's Xet stream is finished
at the next opportunity, which releases hf_xet's per-stream memory (see docs/partitioned-outputs.md).

Failure rule: the file becomes visible only in :meth:`UploadSession.commit`, after
every byte and the shard are stored.  Any exception, including ``KeyboardInterrupt``,
aborts the hf_xet stream and commit, joins the uploader thread and registers nothing.

Stall rule: if uploads are pending and hf_xet reports no progress for
``HF_BUCKET_SINK_UPLOAD_TIMEOUT`` seconds (default :data:`DEFAULT_UPLOAD_TIMEOUT`; ``0`` = never),
the session aborts the commit and raises :class:`UploadError`: a dead or hanging server fails
the sink in bounded time instead of after hf_xet's minutes of retries (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hf_bucket_sink._rows import RowCounter
from hf_bucket_sink.errors import BucketSinkError, InvalidOptionError, UploadError
from hf_bucket_sink.hub import FileRegistration, HubClient, XetAccess, content_type_for, now_ms
from hf_bucket_sink.paths import BucketPath
from hf_bucket_sink.result import FileResult, SinkResult

__all__ = ["BucketWriter", "PartitionWriter", "StoredFile", "UploadSession", "UploadTuning"]

logger = logging.getLogger("hf_bucket_sink")

_STOP = object()  # queue sentinel: no more data
_POLL_S = 0.1  # how often blocked producers look for an abort

#: Environment variable: seconds without upload progress after which a sink gives up.
UPLOAD_TIMEOUT_ENV = "HF_BUCKET_SINK_UPLOAD_TIMEOUT"
#: Default stall limit: long enough for hf_xet to ride out a flaky link (its retries back off 3, 9, 27 s…),
#: short enough that a dead server fails a pipeline in minutes, not after hf_xet's 6-minute retry cap.
DEFAULT_UPLOAD_TIMEOUT = 120.0


def upload_timeout() -> float | None:
    """The stall limit from ``HF_BUCKET_SINK_UPLOAD_TIMEOUT`` (seconds; ``0`` disables it), read per session."""
    raw = os.environ.get(UPLOAD_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_UPLOAD_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise InvalidOptionError(
            f"{UPLOAD_TIMEOUT_ENV}={raw!r} is not a number of seconds: set it to e.g. 120, or 0 to wait as long as "
            "hf_xet retries."
        )
    return value or None


class _StallWatchdog:
    """Aborts an hf_xet upload commit that has pending work but makes no progress for ``timeout`` seconds.

    Polls ``commit.progress()`` from one daemon thread (stopped by :meth:`stop`, which joins it).
    Work is pending when xorb bytes are queued but not yet sent, or while the session is finishing
    (files, shards). Progress is any change in bytes processed or bytes sent. Idle time while the
    query computes (nothing queued) is not a stall.
    """

    def __init__(self, commit: Any, timeout: float | None, describe: Callable[[], str]) -> None:
        self.error: UploadError | None = None
        self.finishing = False
        self._commit = commit
        self._timeout = timeout
        self._describe = describe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if timeout is not None:
            self._thread = threading.Thread(target=self._run, name="hf-bucket-sink-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        timeout = self._timeout
        assert timeout is not None
        poll = min(1.0, max(0.05, timeout / 20))
        marker: tuple[int, int] | None = None
        last = time.monotonic()
        while not self._stop.wait(poll):
            try:
                report = self._commit.progress()
                seen = (int(report.total_bytes_completed), int(report.total_transfer_bytes_completed))
                pending = self.finishing or int(report.total_transfer_bytes) > seen[1]
            except Exception as exc:  # a finished or aborted commit may refuse progress(): nothing left to watch
                logger.debug("upload progress unavailable: %s", exc)
                return
            now = time.monotonic()
            if seen != marker or not pending:
                marker, last = seen, now
                continue
            if now - last >= timeout:
                self.error = UploadError(
                    f"The upload of {self._describe()} made no progress for {timeout:g} s (the Xet storage server "
                    "is unreachable, hanging or failing every request), so it was aborted. Nothing was registered "
                    "and any previous version is intact. Check the network and run the sink again; raise "
                    f"{UPLOAD_TIMEOUT_ENV} (seconds, default {DEFAULT_UPLOAD_TIMEOUT:g}) for very slow links."
                )
                logger.warning("%s", self.error)
                try:
                    self._commit.abort()  # unblocks writes and wait_to_finish() in the other threads
                except Exception as exc:
                    logger.debug("aborting the stalled commit failed: %s", exc)
                return

    def stop(self) -> None:
        """Stop watching and join the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


@dataclass(frozen=True, slots=True)
class UploadTuning:
    """Buffering knobs. Memory we hold per open file is at most ``(queue_blocks + 2) * block_bytes``."""

    block_bytes: int = 4 * 1024 * 1024
    queue_blocks: int = 2
    #: buffer of each :class:`PartitionWriter` (grown on demand, freed when sent): many may be open at once
    partition_block_bytes: int = 1024 * 1024
    #: file tail kept to read a Parquet footer's row count (single file / per partition)
    rows_tail_bytes: int = 1024 * 1024
    partition_rows_tail_bytes: int = 64 * 1024
    #: hf_xet xorb compression: Parquet/IPC are already compressed, so trying LZ4 wastes CPU
    compression_policy: str = "auto"


_sessions: dict[str, tuple[tuple[Any, ...], Any]] = {}
_sessions_lock = threading.Lock()


def _session_key() -> tuple[Any, ...]:
    # a fork or a new cache location (tests, notebooks changing HF_HOME) needs a new session
    return (os.getpid(), os.environ.get("HF_XET_CACHE"), os.environ.get("HF_HOME"), _xet_env())


def _xet_env() -> tuple[tuple[str, str], ...]:
    # hf_xet reads HF_XET_* (e.g. HF_XET_CLIENT_RETRY_BASE_DELAY) when a config is built: a change needs a new session
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("HF_XET_") and k != "HF_XET_CACHE"))


#: Environment variable: most xorb uploads hf_xet runs at once (each holds up to 64 MiB).
MAX_UPLOAD_CONCURRENCY_ENV = "HF_BUCKET_SINK_MAX_UPLOAD_CONCURRENCY"
#: hf_xet grows upload concurrency up to 64 when uploads are slow, and each in-flight xorb holds up
#: to 64 MiB, so on a slow link its write() stopped pushing back (W1x5 at 20 MB/s: 2.07x the local
#: peak; capped at 2: 1.44-1.48x, capped at 4: 1.66x). 2 bounds it at 128 MiB; raise it on fast, far links.
DEFAULT_MAX_UPLOAD_CONCURRENCY = 2
_HF_XET_CONCURRENCY_ENV = "HF_XET_CLIENT_AC_MAX_UPLOAD_CONCURRENCY"


def max_upload_concurrency() -> int | None:
    """The cap on hf_xet's concurrent xorb uploads; ``None`` when the user set hf_xet's own variable."""
    if os.environ.get(_HF_XET_CONCURRENCY_ENV):
        return None  # an explicit hf_xet setting wins
    raw = os.environ.get(MAX_UPLOAD_CONCURRENCY_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD_CONCURRENCY
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidOptionError(
            f"{MAX_UPLOAD_CONCURRENCY_ENV}={raw!r} must be a whole number >= 1 (concurrent xorb uploads, "
            f"each holding up to 64 MiB; default {DEFAULT_MAX_UPLOAD_CONCURRENCY})."
        )
    return int(raw)


def xet_session(compression_policy: str = "auto") -> Any:
    """A process-wide ``hf_xet.XetSession`` per configuration (sessions are cheap to share, costly to build)."""
    import hf_xet

    concurrency = max_upload_concurrency()
    key = (*_session_key(), concurrency)
    with _sessions_lock:
        held = _sessions.get(compression_policy)
        if held is None or held[0] != key:
            settings: dict[str, Any] = {"xorb.compression_policy": compression_policy}
            if concurrency is not None:
                settings["client.ac_max_upload_concurrency"] = concurrency
                settings["client.ac_initial_upload_concurrency"] = min(2, concurrency)
            config = hf_xet.XetConfig().with_config(settings)
            held = _sessions[compression_policy] = (key, hf_xet.XetSession(config=config))
        return held[1]


def _forget_session(compression_policy: str) -> None:
    """Drop a session after ``sigint_abort`` destroyed its runtime; the next call builds a new one."""
    with _sessions_lock:
        _sessions.pop(compression_policy, None)


def _as_upload_error(target: BucketPath, exc: BaseException) -> BucketSinkError:
    """What a writer raises when its Xet upload failed (our own errors pass through unchanged)."""
    if isinstance(exc, BucketSinkError):
        return exc
    return UploadError(
        f"Uploading {target} to Xet storage failed: {exc}. Nothing was registered and any previous "
        "version is intact; check the network and run the sink again (bytes already stored are not re-sent)."
    )


class BucketWriter(io.RawIOBase):
    """Write-only binary file whose bytes stream into one Xet upload.

    Polars (or anything) calls :meth:`write`; the owning :class:`UploadSession` calls
    :meth:`finish` or :meth:`abort` — ``close()`` alone never publishes anything.
    """

    def __init__(
        self, target: BucketPath, stream: Any, tuning: UploadTuning, *, content_type: str | None = None,
        rows: RowCounter | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.content_type = content_type or content_type_for(target.path)
        self.rows = rows or RowCounter(None)
        self._stream = stream
        self._tuning = tuning
        self._meta: Any = None
        # pieces as Polars handed them (immutable bytes, kept by reference): one copy per block, in
        # the uploader thread's join, instead of one into a bytearray plus one back out to bytes
        self._pieces: list[bytes] = []
        self._pending = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=tuning.queue_blocks)
        self._lock = threading.Lock()  # write() may be called from several Polars threads, in turn
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._finished = False
        self.bytes_written = 0
        self._thread = threading.Thread(target=self._pump, name=f"hf-bucket-sink-upload:{target.name}", daemon=True)
        self._thread.start()

    # -- io.RawIOBase ------------------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        # a mutable buffer may be reused by the caller after write() returns: copy it; bytes are safe to keep
        piece = data if type(data) is bytes else bytes(memoryview(data).cast("B"))
        n = len(piece)
        with self._lock:
            self._check_open()
            self._pieces.append(piece)
            self._pending += n
            self.bytes_written += n
            if self._pending >= self._tuning.block_bytes:
                block, self._pieces, self._pending = self._pieces, [], 0
                self._put(block)
        return n

    def flush(self) -> None:
        """Buffered bytes are sent when a block fills or at finish; nothing to do here."""

    def close(self) -> None:
        """Closing does not publish: only :meth:`UploadSession.commit` does."""
        super().close()

    # -- owner API ---------------------------------------------------------------------------------
    def finish(self) -> Any:
        """Send the last bytes, wait for the uploader thread, and finish the Xet stream.

        Returns hf_xet's per-file metadata (the same on every call once finished).
        Raises :class:`UploadError` if any upload step failed.
        """
        if self._meta is not None:
            return self._meta
        with self._lock:
            self._check_open()
            if self._pieces:
                block, self._pieces, self._pending = self._pieces, [], 0
                self._put(block)
            self._put(_STOP)
            self._finished = True
        self._thread.join()
        if self._error is not None:
            raise self._upload_error(self._error)
        try:
            self._meta = self._stream.finish()
        except Exception as exc:
            raise self._upload_error(exc) from exc
        return self._meta

    def abort(self) -> None:
        """Stop everything for this file; safe to call at any time, more than once."""
        self._abort.set()
        self._finished = True
        # unblock the uploader if it waits on an empty queue, and free queued blocks
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:  # pragma: no cover - the queue was just drained
            pass
        try:
            self._stream.abort()
        except Exception as exc:  # abort is best effort: the stream may already have failed
            logger.debug("aborting the Xet stream of %s failed: %s", self.target, exc)
        self._thread.join(timeout=30)
        if self._thread.is_alive():  # pragma: no cover - hf_xet did not return from write() after abort
            logger.warning("upload thread for %s did not stop within 30 s after abort", self.target)

    def failure(self) -> BucketSinkError | None:
        """The upload error that stopped this writer, if any (Polars wraps it when write() raises)."""
        return self._upload_error(self._error) if self._error is not None else None

    # -- internals -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._error is not None:
            raise self._upload_error(self._error)
        if self._abort.is_set():
            raise UploadError(f"The upload of {self.target} was aborted; nothing was registered. Run the sink again.")
        if self._finished:
            raise UploadError(f"The upload of {self.target} is already finished; open a new sink to write more.")

    def _put(self, item: Any) -> None:
        # Blocking put that still notices an abort or an uploader failure: the backpressure point.
        while True:
            if self._error is not None:
                raise self._upload_error(self._error)
            if self._abort.is_set():
                raise UploadError(f"The upload of {self.target} was aborted; nothing was registered.")
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _pump(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP or self._abort.is_set():
                    return
                block = b"".join(item)  # hf_xet accepts only bytes
                self.rows.observe(block)  # in order: one uploader thread, FIFO queue
                self._stream.write(block)  # blocks when hf_xet's pipeline is full
        except BaseException as exc:  # recorded and re-raised on the producer's side
            self._error = exc

    def _upload_error(self, exc: BaseException) -> BucketSinkError:
        return _as_upload_error(self.target, exc)


class PartitionWriter:
    """One partition file: bytes go straight into its Xet stream, on the caller's thread.

    Built for many files open at once: no uploader thread, a buffer that grows only as data
    arrives and is sent (and freed) at ``partition_block_bytes``, so an idle or finished
    partition holds almost nothing. A blocking ``stream.write()`` blocks the Polars thread
    that wrote: the same backpressure as :class:`BucketWriter`, without the queue.
    """

    def __init__(
        self, target: BucketPath, stream: Any, tuning: UploadTuning, *, content_type: str | None = None,
        rows: RowCounter | None = None,
    ) -> None:
        self.target = target
        self.content_type = content_type or content_type_for(target.path)
        self.rows = rows or RowCounter(None)
        self.bytes_written = 0
        self.released = False  # Polars dropped its handle: it will not write again
        self._stream = stream
        self._block = tuning.partition_block_bytes
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._finished = False
        self._meta: Any = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        with self._lock:
            self._check_open()
            self._buffer += view
            self.bytes_written += n
            if len(self._buffer) >= self._block:
                self._send()
        return n

    def flush(self) -> None:
        """Polars flushes only once a file is complete (measured, Polars 2.1): send what is buffered now."""
        with self._lock:
            if not self._finished and self._error is None and self._buffer:
                self._send()

    def finish(self) -> Any:
        """Send the rest and finish the Xet stream (idempotent); returns hf_xet's file metadata."""
        with self._lock:
            if self._meta is not None:
                return self._meta
            self._check_open()
            if self._buffer:
                self._send()
            self._finished = True
            try:
                self._meta = self._stream.finish()
            except Exception as exc:
                self._error = exc
                raise self._upload_error(exc) from exc
            return self._meta

    def abort(self) -> None:
        """Drop the buffer and abort the stream; safe at any time, more than once."""
        self._finished = True
        self._buffer = bytearray()
        try:
            self._stream.abort()
        except Exception as exc:  # best effort: the stream may already have failed or finished
            logger.debug("aborting the Xet stream of %s failed: %s", self.target, exc)

    def failure(self) -> BucketSinkError | None:
        return self._upload_error(self._error) if self._error is not None else None

    def _send(self) -> None:
        block, self._buffer = self._buffer, bytearray()
        self.rows.observe(block)
        try:
            self._stream.write(bytes(block))
        except Exception as exc:
            self._error = exc
            raise self._upload_error(exc) from exc

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._upload_error(self._error)
        if self._finished:
            raise UploadError(
                f"{self.target} was written to after it was finished; nothing was registered. "
                "This is a bug in hf-bucket-sink's partition handling: please report it."
            )

    def _upload_error(self, exc: BaseException) -> BucketSinkError:
        return _as_upload_error(self.target, exc)


class _PolarsFile(io.RawIOBase):
    """The handle Polars writes a partition into. When Polars drops it, the file is complete."""

    def __init__(self, writer: PartitionWriter) -> None:
        super().__init__()
        self._writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        return self._writer.write(data)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        """Closing does not publish: only :meth:`UploadSession.commit` does."""
        super().close()


class _Deletion:
    """A ``deleteFile`` line for ``HubClient.register_files`` (it only calls ``to_json()``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def to_json(self) -> dict[str, Any]:
        return {"type": "deleteFile", "path": self.path}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file whose bytes and shard are stored in Xet but which is not registered in the bucket.

    Returned by :meth:`UploadSession.store` where registration happens elsewhere (the Ray
    datasink: tasks store, the driver registers); :meth:`registration` is its ``/batch`` line.
    Picklable, and holds no credential.
    """

    path: str  # inside the bucket
    content_type: str
    result: FileResult

    def registration(self, mtime_ms: int) -> FileRegistration:
        return FileRegistration(self.path, self.result.xet_hash, mtime_ms, self.content_type)


#: builds the manifest from the finished files: its path and bytes, or None for no manifest
ManifestBuilder = Callable[[Sequence[FileResult]], "tuple[BucketPath, bytes] | None"]


class UploadSession:
    """One hf_xet upload commit in a bucket; files become visible together in :meth:`commit`."""

    def __init__(
        self,
        hub: HubClient,
        bucket_id: str,
        access: XetAccess,
        *,
        tuning: UploadTuning | None = None,
        progress_callback: Callable[[Any, Any], None] | None = None,
    ) -> None:
        self.hub = hub
        self.bucket_id = bucket_id
        self.tuning = tuning or UploadTuning()
        self._started = time.perf_counter()
        self._writers: list[BucketWriter | PartitionWriter] = []
        self._rows: dict[str, int] = {}
        self._paths: set[str] = set()
        self._released: list[PartitionWriter] = []  # appended to by weakref finalizers
        self._lock = threading.Lock()
        self._closed = False
        self._commit = xet_session(self.tuning.compression_policy).new_upload_commit(
            endpoint=access.cas_url,
            token=access.access_token,
            token_expiry_unix_secs=access.expires_at,
            token_refresh_url=access.refresh_url,
            token_refresh_headers=hub.headers(),
            custom_headers=hub.headers(auth=False),
            progress_callback=progress_callback,
        )
        self._watchdog = _StallWatchdog(self._commit, upload_timeout(), self._describe)

    def _describe(self) -> str:
        names = [str(w.target) for w in self._writers[:3]]
        more = f" and {len(self._writers) - 3} more file(s)" if len(self._writers) > 3 else ""
        return (", ".join(names) + more) if names else f"files to bucket {self.bucket_id}"

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        """Finishing phase: any wait counts toward the stall limit; a stall replaces hf_xet's "cancelled" error."""
        self._watchdog.finishing = True
        try:
            yield
        except Exception as exc:
            if self._watchdog.error is not None:
                raise self._watchdog.error from exc
            raise
        finally:
            self._watchdog.stop()

    def open_writer(
        self, target: BucketPath, *, content_type: str | None = None, rows: str | None = None
    ) -> BucketWriter:
        """A new streaming file in this commit (threaded, large blocks: for one big file).

        ``content_type`` defaults to the one of the path's extension; ``rows`` is a
        :class:`~hf_bucket_sink._rows.RowCounter` kind (``"parquet"``, ``"lines"`` or ``None``).
        """
        stream = self._start_stream(target)
        writer = BucketWriter(
            target, stream, self.tuning, content_type=content_type,
            rows=RowCounter(rows, self.tuning.rows_tail_bytes),
        )
        self._writers.append(writer)
        return writer

    def open_partition(
        self, target: BucketPath, *, content_type: str | None = None, rows: str | None = None
    ) -> io.RawIOBase:
        """A file for one partition; returns the handle to give Polars.

        Files Polars has dropped since the last call are finished first, so that hf_xet frees
        their per-stream state while the query goes on (errors surface here, inside the query).
        """
        self.finish_released()
        with self._lock:
            if target.path in self._paths:
                raise UploadError(
                    f"Two partitions were given the same file {target}; make the file_path_provider return "
                    "a distinct path per (partition keys, index_in_partition)."
                )
            self._paths.add(target.path)
        stream = self._start_stream(target)
        writer = PartitionWriter(
            target, stream, self.tuning, content_type=content_type,
            rows=RowCounter(rows, self.tuning.partition_rows_tail_bytes),
        )
        handle = _PolarsFile(writer)
        with self._lock:
            self._writers.append(writer)
        weakref.finalize(handle, self._released.append, writer)  # list.append: safe from any thread
        return handle

    def finish_released(self) -> int:
        """Finish the Xet streams of partition files Polars has let go of; returns how many."""
        done = 0
        while self._released:
            writer = self._released.pop()
            writer.released = True
            if not self._closed:
                writer.finish()
                done += 1
        return done

    def failure(self) -> BucketSinkError | None:
        """The first upload error recorded by any file of this session (Polars may have wrapped it)."""
        if self._watchdog.error is not None:  # the root cause: the writers' errors are its "cancelled" echoes
            return self._watchdog.error
        for writer in self._writers:
            failure = writer.failure()
            if failure is not None:
                return failure
        return None

    def set_rows(self, target: BucketPath, rows: int) -> None:
        self._rows[target.path] = rows

    def _start_stream(self, target: BucketPath) -> Any:
        import hf_xet

        if self._closed:
            raise UploadError("This upload session is closed; start a new sink.")
        return self._commit.start_upload_stream(name=target.path, sha256=hf_xet.SKIP_SHA256)

    def commit(
        self, *, uri: str | None = None, manifest: ManifestBuilder | None = None, delete_first: Sequence[str] = ()
    ) -> SinkResult:
        """Finish every file, wait until Xet has stored all bytes, then register the files.

        Files are registered in path order, in ``/batch`` calls of at most 1,000 lines;
        ``delete_first`` paths are deleted in the first of them (e.g. a stale manifest), and
        the ``manifest`` (built from the finished files, stored in the same Xet commit) is
        registered alone in a final call, so its presence means every file before it is there.
        """
        with self._watched():
            return self._commit_files(uri=uri, manifest=manifest, delete_first=delete_first)

    def _commit_files(
        self, *, uri: str | None, manifest: ManifestBuilder | None, delete_first: Sequence[str]
    ) -> SinkResult:
        if self._closed:
            raise UploadError("This upload session is already closed.")
        self.finish_released()
        writers = sorted(self._writers, key=lambda w: w.target.path)
        metas = [(w, w.finish()) for w in writers]
        files = tuple(
            FileResult(
                uri=str(w.target),
                size=int(m.xet_info.file_size),
                xet_hash=m.xet_info.hash,
                new_bytes=int(m.dedup_metrics.new_bytes),
                rows=self._rows.get(w.target.path, w.rows.rows()),
            )
            for w, m in metas
        )
        manifest_file: tuple[BucketPath, Any] | None = None
        built = manifest(files) if manifest is not None else None
        if built is not None:
            path, body = built
            stream = self._start_stream(path)
            try:
                stream.write(body)
                manifest_file = (path, stream.finish())
            except Exception as exc:
                raise UploadError(f"Storing the manifest {path} failed: {exc}. Nothing was registered; run the sink again.") from exc
        try:
            report = self._commit.wait_to_finish()
        except Exception as exc:
            raise UploadError(
                f"Storing the data of {len(metas)} file(s) in Xet failed: {exc}. Nothing was registered; "
                "run the sink again."
            ) from exc
        self._closed = True
        self._watchdog.stop()  # all stored: registration is bounded by the Hub client's own timeouts
        mtime = now_ms()
        lines: list[Any] = [_Deletion(p) for p in delete_first]
        lines += [FileRegistration(w.target.path, m.xet_info.hash, mtime, w.content_type) for w, m in metas]
        if lines:
            self.hub.register_files(self.bucket_id, lines)
        manifest_result = None
        if manifest_file is not None:
            path, meta = manifest_file
            self.hub.register_files(self.bucket_id, [FileRegistration(path.path, meta.xet_info.hash, mtime, "application/json")])
            manifest_result = FileResult(str(path), int(meta.xet_info.file_size), meta.xet_info.hash, int(meta.dedup_metrics.new_bytes))
        uploaded = int(report.dedup_metrics.total_bytes_uploaded) if report is not None else 0
        if uri is None:
            uri = files[0].uri if len(files) == 1 else f"hf://buckets/{self.bucket_id}"
        return SinkResult(
            uri=uri, files=files, seconds=time.perf_counter() - self._started, uploaded_bytes=uploaded,
            manifest=manifest_result,
        )

    def store(self) -> tuple[list[StoredFile], int]:
        """Finish every file and wait until Xet has stored all bytes and the shard; register nothing.

        Returns the files (path order) and the bytes sent to Xet. The session is closed afterwards;
        the caller registers the files (e.g. with ``HubClient.register_files``) when it chooses::

            stored, sent = session.store()
            hub.register_files(bucket_id, [f.registration(now_ms()) for f in stored])
        """
        with self._watched():
            return self._store_files()

    def _store_files(self) -> tuple[list[StoredFile], int]:
        if self._closed:
            raise UploadError("This upload session is already closed.")
        self.finish_released()
        writers = sorted(self._writers, key=lambda w: w.target.path)
        metas = [(w, w.finish()) for w in writers]
        try:
            report = self._commit.wait_to_finish()
        except Exception as exc:
            raise UploadError(
                f"Storing the data of {len(metas)} file(s) in Xet failed: {exc}. Nothing was registered; run it again."
            ) from exc
        self._closed = True
        self._watchdog.stop()  # all stored: registration is bounded by the Hub client's own timeouts
        stored = [
            StoredFile(
                w.target.path,
                w.content_type,
                FileResult(
                    uri=str(w.target), size=int(m.xet_info.file_size), xet_hash=m.xet_info.hash,
                    new_bytes=int(m.dedup_metrics.new_bytes), rows=self._rows.get(w.target.path, w.rows.rows()),
                ),
            )
            for w, m in metas
        ]
        sent = int(report.dedup_metrics.total_bytes_uploaded) if report is not None else 0
        return stored, sent

    def abort(self) -> None:
        """Cancel every file and the commit; nothing is registered."""
        self._closed = True
        self._watchdog.stop()
        for writer in self._writers:
            writer.abort()
        try:
            self._commit.abort()
        except Exception as exc:  # best effort: it may have failed already
            logger.debug("aborting the Xet commit failed: %s", exc)

    def __enter__(self) -> UploadSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
            if exc_type is KeyboardInterrupt:
                # hf_xet's own advice: after Ctrl-C, tear the runtime down so nothing keeps running
                try:
                    xet_session(self.tuning.compression_policy).sigint_abort()
                finally:
                    _forget_session(self.tuning.compression_policy)
        elif not self._closed:
            self.abort()  # left the block without commit(): publish nothing
