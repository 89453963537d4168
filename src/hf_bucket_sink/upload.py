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

Failure rule: the file becomes visible only in :meth:`UploadSession.commit`, after
every byte and the shard are stored.  Any exception, including ``KeyboardInterrupt``,
aborts the hf_xet stream and commit, joins the uploader thread and registers nothing.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from hf_bucket_sink.errors import BucketSinkError, UploadError
from hf_bucket_sink.hub import FileRegistration, HubClient, XetAccess, content_type_for, now_ms
from hf_bucket_sink.paths import BucketPath
from hf_bucket_sink.result import FileResult, SinkResult

__all__ = ["BucketWriter", "UploadSession", "UploadTuning"]

logger = logging.getLogger("hf_bucket_sink")

_STOP = object()  # queue sentinel: no more data
_POLL_S = 0.1  # how often blocked producers look for an abort


@dataclass(frozen=True, slots=True)
class UploadTuning:
    """Buffering knobs. Memory we hold per open file is at most ``(queue_blocks + 2) * block_bytes``."""

    block_bytes: int = 8 * 1024 * 1024
    queue_blocks: int = 2
    #: hf_xet xorb compression: Parquet/IPC are already compressed, so trying LZ4 wastes CPU
    compression_policy: str = "auto"


_sessions: dict[str, tuple[tuple[Any, ...], Any]] = {}
_sessions_lock = threading.Lock()


def _session_key() -> tuple[Any, ...]:
    # a fork or a new cache location (tests, notebooks changing HF_HOME) needs a new session
    return (os.getpid(), os.environ.get("HF_XET_CACHE"), os.environ.get("HF_HOME"))


def xet_session(compression_policy: str = "auto") -> Any:
    """A process-wide ``hf_xet.XetSession`` per configuration (sessions are cheap to share, costly to build)."""
    import hf_xet

    key = _session_key()
    with _sessions_lock:
        held = _sessions.get(compression_policy)
        if held is None or held[0] != key:
            config = hf_xet.XetConfig().with_config("xorb.compression_policy", compression_policy)
            held = _sessions[compression_policy] = (key, hf_xet.XetSession(config=config))
        return held[1]


def _forget_session(compression_policy: str) -> None:
    """Drop a session after ``sigint_abort`` destroyed its runtime; the next call builds a new one."""
    with _sessions_lock:
        _sessions.pop(compression_policy, None)


class BucketWriter(io.RawIOBase):
    """Write-only binary file whose bytes stream into one Xet upload.

    Polars (or anything) calls :meth:`write`; the owning :class:`UploadSession` calls
    :meth:`finish` or :meth:`abort` — ``close()`` alone never publishes anything.
    """

    def __init__(self, target: BucketPath, stream: Any, tuning: UploadTuning) -> None:
        super().__init__()
        self.target = target
        self._stream = stream
        self._tuning = tuning
        self._buffer = bytearray()
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
        view = memoryview(data).cast("B")
        n = view.nbytes
        with self._lock:
            self._check_open()
            self._buffer += view
            self.bytes_written += n
            if len(self._buffer) >= self._tuning.block_bytes:
                block, self._buffer = self._buffer, bytearray()
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

        Returns hf_xet's per-file metadata. Raises :class:`UploadError` if any upload step failed.
        """
        with self._lock:
            self._check_open()
            if self._buffer:
                block, self._buffer = self._buffer, bytearray()
                self._put(block)
            self._put(_STOP)
            self._finished = True
        self._thread.join()
        if self._error is not None:
            raise self._upload_error(self._error)
        try:
            return self._stream.finish()
        except Exception as exc:
            raise self._upload_error(exc) from exc

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
                self._stream.write(bytes(item))  # hf_xet accepts only bytes; blocks when its pipeline is full
        except BaseException as exc:  # recorded and re-raised on the producer's side
            self._error = exc

    def _upload_error(self, exc: BaseException) -> BucketSinkError:
        if isinstance(exc, BucketSinkError):
            return exc
        return UploadError(
            f"Uploading {self.target} to Xet storage failed: {exc}. Nothing was registered and any previous "
            "version is intact; check the network and run the sink again (bytes already stored are not re-sent)."
        )


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
        self._writers: list[BucketWriter] = []
        self._rows: dict[str, int] = {}
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

    def open_writer(self, target: BucketPath) -> BucketWriter:
        """A new streaming file in this commit."""
        import hf_xet

        if self._closed:
            raise UploadError("This upload session is closed; start a new sink.")
        stream = self._commit.start_upload_stream(name=target.path, sha256=hf_xet.SKIP_SHA256)
        writer = BucketWriter(target, stream, self.tuning)
        self._writers.append(writer)
        return writer

    def set_rows(self, target: BucketPath, rows: int) -> None:
        self._rows[target.path] = rows

    def commit(self) -> SinkResult:
        """Finish every file, wait until Xet has stored all bytes, then register the files."""
        if self._closed:
            raise UploadError("This upload session is already closed.")
        metas = [(w, w.finish()) for w in self._writers]
        try:
            report = self._commit.wait_to_finish()
        except Exception as exc:
            raise UploadError(
                f"Storing the data of {len(metas)} file(s) in Xet failed: {exc}. Nothing was registered; "
                "run the sink again."
            ) from exc
        self._closed = True
        mtime = now_ms()
        self.hub.register_files(
            self.bucket_id,
            [FileRegistration(w.target.path, m.xet_info.hash, mtime, content_type_for(w.target.path)) for w, m in metas],
        )
        files = tuple(
            FileResult(
                uri=str(w.target),
                size=int(m.xet_info.file_size),
                xet_hash=m.xet_info.hash,
                new_bytes=int(m.dedup_metrics.new_bytes),
                rows=self._rows.get(w.target.path),
            )
            for w, m in metas
        )
        uploaded = int(report.dedup_metrics.total_bytes_uploaded) if report is not None else 0
        uri = files[0].uri if len(files) == 1 else f"hf://buckets/{self.bucket_id}"
        return SinkResult(uri=uri, files=files, seconds=time.perf_counter() - self._started, uploaded_bytes=uploaded)

    def abort(self) -> None:
        """Cancel every file and the commit; nothing is registered."""
        self._closed = True
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
