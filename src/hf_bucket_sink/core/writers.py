"""The files engines write into: :class:`BucketWriter` (one big file) and :class:`PartitionWriter` (many).

Engines never see hf_xet: they get a write-only file. Bytes go into one Xet upload stream; nothing
becomes visible here (that is :mod:`hf_bucket_sink.core.commit`'s job, after the owning
:class:`~hf_bucket_sink.core.upload.UploadSession` has stored every byte)::

    Polars thread --write()--> buffer (<= block_bytes) --> Queue(maxsize=queue_blocks)
        --> uploader thread --XetStreamUpload.write()--> hf_xet pipeline --> CAS

``write()`` blocks when the queue is full, and ``XetStreamUpload.write()`` blocks when hf_xet has no
room: that is the backpressure. The uploader thread starts with the first full block: a file smaller
than one block is written by :meth:`BucketWriter.finish` on the caller's thread, so a small sink
starts no thread (a loop of small sinks is the case that notices). Buffering is bounded by ``(queue_blocks + 2) * block_bytes`` per
:class:`BucketWriter`; a :class:`PartitionWriter` has no thread and a buffer of at most
``partition_block_bytes``, for outputs with many files open at once.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from hf_bucket_sink.core.hub import content_type_for
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.rows import RowCounter
from hf_bucket_sink.errors import BucketSinkError, UploadError

__all__ = ["BucketWriter", "PartitionWriter", "PartitionHandle", "UploadTuning", "as_upload_error"]

logger = logging.getLogger("hf_bucket_sink")

_STOP = object()  # queue sentinel: no more data
_POLL_S = 0.1  # how often blocked producers look for an abort


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
    #: partition files per hf_xet upload commit: hf_xet keeps ~13 KB per file until its commit is
    #: waited for (measured), so a session rolls over to a new commit after this many files
    files_per_commit: int = 1000
    #: threads finishing released partition files (hf_xet's finish waits for a round trip) and queue depth
    finisher_threads: int = 4
    finisher_queue: int = 256



def as_upload_error(target: BucketPath, exc: BaseException) -> BucketSinkError:
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
        self._thread: threading.Thread | None = None  # started by the first full block (_put)

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
            block, self._pieces, self._pending = self._pieces, [], 0
            if self._thread is None:
                self._finished = True
                direct = block  # never filled a block: no thread to hand it to
            else:
                direct = []
                if block:
                    self._put(block)
                self._put(_STOP)
                self._finished = True
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._upload_error(self._error)
        try:
            if direct:
                self._send(b"".join(direct))
            self._meta = self._stream.finish()
        except Exception as exc:
            self._error = exc
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
        # a write() that holds the lock gives it up within _POLL_S once it sees the abort; after
        # that no thread can start (the next _put raises), so this is the thread to join, if any
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        thread.join(timeout=30)
        if thread.is_alive():  # pragma: no cover - hf_xet did not return from write() after abort
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
        if self._thread is None:  # caller holds self._lock
            self._thread = threading.Thread(target=self._pump, name=f"hf-bucket-sink-upload:{self.target.name}", daemon=True)
            self._thread.start()
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
                self._send(b"".join(item))  # hf_xet accepts only bytes
        except BaseException as exc:  # recorded and re-raised on the producer's side
            self._error = exc

    def _send(self, block: bytes) -> None:
        self.rows.observe(block)  # in order: one sender at a time (the uploader thread, or finish() without one)
        self._stream.write(block)  # blocks when hf_xet's pipeline is full

    def _upload_error(self, exc: BaseException) -> BucketSinkError:
        return as_upload_error(self.target, exc)


class PartitionWriter:
    """One partition file: bytes go straight into its Xet stream, on the caller's thread.

    Built for many files open at once: no uploader thread, a buffer that grows only as data
    arrives and is sent (and freed) at ``partition_block_bytes``, so an idle or finished
    partition holds almost nothing. A blocking ``stream.write()`` blocks the Polars thread
    that wrote: the same backpressure as :class:`BucketWriter`, without the queue.

    The Xet stream is opened with the first block sent: a file smaller than a block (most files of
    a many-partition output) opens, writes and finishes its stream in :meth:`finish`, on the
    session's finisher threads, instead of costing Polars' thread two hf_xet calls per file.
    """

    def __init__(
        self, target: BucketPath, open_stream: Callable[[], Any], tuning: UploadTuning, *, content_type: str | None = None,
        rows: RowCounter | None = None,
    ) -> None:
        self.target = target
        self.content_type = content_type or content_type_for(target.path)
        self.rows = rows or RowCounter(None)
        self.bytes_written = 0
        self.released = False  # Polars dropped its handle: it will not write again
        self._open_stream = open_stream
        self._stream: Any = None  # opened with the first block sent
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
        """Nothing to send yet: Polars flushes only once a file is complete (measured, Polars 2.1), and
        the rest of the buffer (under one block) goes out in :meth:`finish`, off Polars' thread."""

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
                if self._stream is None:  # an empty file: its stream was not needed until now
                    self._stream = self._open_stream()
                self._meta = self._stream.finish()
            except Exception as exc:
                self._error = exc
                raise self._upload_error(exc) from exc
            return self._meta

    def abort(self) -> None:
        """Drop the buffer and abort the stream; safe at any time, more than once."""
        self._finished = True
        self._buffer = bytearray()
        if self._stream is None:  # never opened: nothing in hf_xet to cancel
            return
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
            if self._stream is None:
                self._stream = self._open_stream()
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
        return as_upload_error(self.target, exc)


class PartitionHandle(io.RawIOBase):
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


