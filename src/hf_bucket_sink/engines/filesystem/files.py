"""The file objects :class:`~hf_bucket_sink.engines.filesystem.BucketFileSystem` opens on ``hf://buckets`` paths.

- :class:`BucketWriteFile` (``"wb"``/``"xb"``): bytes go straight into a streaming Xet upload
  (:class:`~hf_bucket_sink.core.writers.BucketWriter`: bounded queue, backpressure, no temp file).
  Publishing is decided by :meth:`~BucketWriteFile.close` / :meth:`~BucketWriteFile.commit`, never by
  ``__exit__`` after an exception nor by ``__del__``, nor by a ``close()`` that runs while an exception
  raised since the file was opened propagates (the s3fs #154 trap: a library that fails part-way and
  closes its file on its way out — pyarrow's ``ParquetWriter.__exit__`` even writes a valid footer
  first — must not publish half a file).
- :class:`BucketReadFile` (``"rb"``): fsspec's buffered reader over ranged reads pinned to the Xet hash
  the file had when it was opened (:class:`PinnedRanges`): a file overwritten while it is read never
  hands out bytes of two versions.
- :class:`FooterCheck`: the few head and tail bytes needed to tell a complete Parquet or Arrow IPC file
  from one whose writer stopped part-way; the file itself is never kept.
"""

from __future__ import annotations

import io
import logging
import struct
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from fsspec.spec import AbstractBufferedFile

from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.remote_file import RemoteEntry, TransferCounter, XetRanges
from hf_bucket_sink.core.writers import BucketWriter
from hf_bucket_sink.errors import IncompleteFileError, UploadError

__all__ = ["BucketWriteFile", "BucketReadFile", "BucketTextFile", "FooterCheck", "PinnedRanges", "footer_kind"]

logger = logging.getLogger("hf_bucket_sink")

_PARQUET_MAGIC = b"PAR1"
_ARROW_MAGIC = b"ARROW1"
_ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # end-of-stream marker of the IPC stream format
_KEEP = 16  # tail bytes kept: enough for every footer check below


def footer_kind(path: str) -> str | None:
    """``"parquet"`` or ``"arrow"`` for the extensions whose footer is checked before publishing, else None."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith((".arrow", ".feather", ".ipc")):
        return "arrow"
    return None


class FooterCheck:
    """Keeps the first and last few bytes of a stream and says whether its format's footer is complete.

    Parquet: ``PAR1`` at both ends and a footer length that fits in the file. Arrow IPC *file*
    (``.arrow``/``.feather``): ``ARROW1`` at both ends and a fitting footer length; an IPC *stream*
    saved as ``.arrow`` (starts with a continuation marker) must end with the end-of-stream marker.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.size = 0
        self._head = b""
        self._tail = b""

    def observe(self, data: bytes) -> None:
        if len(self._head) < 8:
            self._head += data[: 8 - len(self._head)]
        self._tail = (self._tail + data[-_KEEP:])[-_KEEP:]
        self.size += len(data)

    def problem(self) -> str | None:
        """Why the bytes seen are not a complete file of this kind, or None when they are."""
        head, tail, size = self._head, self._tail, self.size
        if self.kind == "parquet":
            if size < 12 or head[:4] != _PARQUET_MAGIC or tail[-4:] != _PARQUET_MAGIC:
                return f"it does not start and end with the Parquet magic bytes ({size} bytes written)"
            (length,) = struct.unpack("<I", tail[-8:-4])
            if length + 12 > size:
                return f"its Parquet footer length ({length}) does not fit in the {size} bytes written"
            return None
        if head[:6] == _ARROW_MAGIC:
            if size < 18 or tail[-6:] != _ARROW_MAGIC:
                return f"it does not end with the Arrow IPC file magic bytes ({size} bytes written)"
            (length,) = struct.unpack("<i", tail[-10:-6])
            if length <= 0 or length + 18 > size:
                return f"its Arrow IPC footer length ({length}) does not fit in the {size} bytes written"
            return None
        if head[:4] == b"\xff\xff\xff\xff":
            return None if tail[-8:] == _ARROW_EOS else "the Arrow IPC stream has no end-of-stream marker"
        return f"it is neither an Arrow IPC file nor stream ({size} bytes written)"


class BucketWriteFile(io.RawIOBase):
    """A write-only file of ``hf://buckets`` whose bytes stream into Xet as they are written.

    ``autocommit=True`` (outside a transaction): :meth:`close` after a clean write publishes the file
    (``commit`` callback); an exception inside its own ``with`` block discards it. A ``.parquet`` /
    ``.arrow`` / ``.feather`` / ``.ipc`` file whose footer is not complete is refused with
    :class:`~hf_bucket_sink.errors.IncompleteFileError` and nothing is registered.

    ``autocommit=False`` (inside ``fs.transaction``): :meth:`close` finishes the Xet stream and the
    transaction registers the file with every other one at its end, or discards them all.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        target: BucketPath,
        writer: BucketWriter,
        *,
        mode: str = "wb",
        autocommit: bool = True,
        publish: Callable[[BucketWriteFile], None],
        discard: Callable[[BucketWriteFile], None],
    ) -> None:
        super().__init__()
        self.fs = fs
        self.path = path  # fsspec form, without protocol: buckets/<ns>/<b>/<key>
        self.target = target
        self.mode = mode
        self.autocommit = autocommit
        self.writer = writer
        kind = footer_kind(target.path)
        self.footer = FooterCheck(kind) if kind else None
        self.finished = False  # close() ran cleanly: the Xet stream is finished
        self.discarded = False
        self._publish = publish
        self._discard = discard
        self._lock = threading.Lock()
        self.loc = 0
        #: the exception being handled when the file was opened (a fallback file written in an
        #: ``except`` block is closed while that same one is handled, and still publishes)
        self._opened_during = sys.exc_info()[1]

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self.target)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.loc

    def write(self, data: Any) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.target}.")
        piece = data if type(data) is bytes else bytes(memoryview(data).cast("B"))
        if self.footer is not None:
            self.footer.observe(piece)
        n = self.writer.write(piece)
        self.loc += n
        return n

    def flush(self) -> None:
        """Blocks are sent as they fill; nothing to do (flushing never publishes)."""

    def incomplete(self) -> str | None:
        """Why this file must not be published (incomplete footer), or None."""
        return self.footer.problem() if self.footer is not None else None

    def close(self) -> None:
        """Finish the upload; with ``autocommit``, publish it now (refusing an incomplete Parquet/Arrow file).

        A ``close()`` that runs while an exception raised after ``open`` propagates (a library closing
        its file on its error path) discards the file instead and returns, so that exception is the one
        the caller sees; inside a transaction the file is left out of the commit.
        """
        self._close(self._propagating())

    def _propagating(self) -> BaseException | None:
        """The exception propagating through this call if it was raised since the file was opened (an error path)."""
        failing = sys.exc_info()[1]
        return failing if failing is not self._opened_during else None

    def _close(self, failing: BaseException | None) -> None:
        """close(); ``failing``: the exception the file is closed on the way out of, which discards it."""
        with self._lock:
            if self.closed:
                return
            try:
                if failing is not None and not self.discarded:
                    # an error path (the file's own with-block, a library's __exit__/finally): the bytes
                    # may be a valid but partial file, so never publish them; the caller's exception goes on
                    logger.warning("%s closed while %s propagates: discarded, nothing registered", self.target, type(failing).__name__)
                    self._discard_quietly()
                if not self.discarded:
                    problem = self.incomplete()
                    if problem is not None and self.autocommit:
                        raise IncompleteFileError(
                            f"{self.target} was not published: {problem}, so its writer stopped part-way. Nothing "
                            "was registered and any previous version at that path is intact; fix the writer's "
                            "error (it is usually raised just before this one) and write the file again."
                        )
                    self.writer.finish()
                    self.finished = True
                    if self.autocommit:
                        self._publish(self)
            except BaseException:
                self._discard_quietly()
                raise
            finally:
                super().close()

    def commit(self) -> None:
        """fsspec's deferred-commit hook: publish this one file now (used with ``autocommit=False``)."""
        if not self.closed:
            self.close()
        problem = self.incomplete()
        if problem is not None:
            self._discard_quietly()
            raise IncompleteFileError(
                f"{self.target} was not published: {problem}. Nothing was registered; write the file again."
            )
        self._publish(self)

    def discard(self) -> None:
        """Throw the upload away; nothing of this file becomes visible (idempotent)."""
        self._discard_quietly()
        if not self.closed:
            super().close()

    def _discard_quietly(self) -> None:
        if not self.discarded:
            self.discarded = True
            self._discard(self)

    def __enter__(self) -> BucketWriteFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # the with-block failed: never publish what it wrote (explicit: exc may be the one handled at open)
        self._close(exc if exc is not None else self._propagating())

    def __del__(self) -> None:
        # io.IOBase.__del__ would close(), i.e. publish: a file dropped without close() is discarded
        self.abandon()

    def abandon(self) -> None:
        """A file dropped without ``close()`` (garbage collected): discard it, never publish it."""
        if not getattr(self, "closed", True) and hasattr(self, "_discard"):
            logger.warning("%s was garbage collected without close(): discarded, nothing registered", self.target)
            try:
                self.discard()
            except Exception as exc:  # nothing may escape __del__; the upload is abandoned either way
                logger.debug("discarding %s failed: %s", self.target, exc)

    def __reduce__(self) -> Any:
        raise UploadError(
            f"The open file {self.target} cannot be pickled: it streams into this process's upload. Open it "
            "in the process that writes (for Dask distributed, see the README section on other engines)."
        )


class BucketTextFile(io.TextIOWrapper):
    """Text mode over a :class:`BucketWriteFile`: an exception in its ``with`` block, or being dropped without
    ``close()``, discards, as in binary mode."""

    def __init__(self, raw: BucketWriteFile, **kwargs: Any) -> None:
        super().__init__(raw, **kwargs)  # type: ignore[arg-type]
        self._raw_file = raw

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        raw = self.buffer
        if exc_type is not None and isinstance(raw, BucketWriteFile):
            raw.discard()  # before TextIOWrapper.close() would flush and close (publish) it
            return
        self.close()

    def __del__(self) -> None:
        # TextIOWrapper.__del__ would close() the binary file, i.e. publish it: a text file dropped
        # without close() (pandas leaves a handle it was given open when it fails) is discarded too
        raw = getattr(self, "_raw_file", None)
        if isinstance(raw, BucketWriteFile):
            raw.abandon()


class PinnedRanges:
    """Byte ranges of one version of a file: read by its Xet hash, so an overwrite cannot tear a read.

    This is the fsspec side's own pinning until the read path's pinned ``ResolveRanges`` lands; it
    uses :class:`~hf_bucket_sink.core.remote_file.XetRanges` (the version named by the hash, or a
    typed ``FileNotFoundError`` once Xet storage no longer holds it).
    """

    def __init__(self, hub: HubClient) -> None:
        self._xet = XetRanges(hub)
        self.counter: TransferCounter = self._xet.counter

    def read(self, entry: RemoteEntry, start: int, end: int) -> bytes:
        return self._xet.read(entry, start, min(end, entry.size))


class BucketReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """fsspec's buffered read-only file (readahead cache, seek) over :class:`PinnedRanges`."""

    def __init__(self, fs: Any, path: str, entry: RemoteEntry, transport: PinnedRanges, **kwargs: Any) -> None:
        self.entry = entry
        self.transport = transport
        kwargs.pop("size", None)
        super().__init__(fs, path, mode="rb", size=entry.size, **kwargs)

    @property
    def details(self) -> dict[str, Any]:
        return {"name": self.path, "size": self.entry.size, "type": "file", "xet_hash": self.entry.xet_hash}

    def _fetch_range(self, start: int, end: int) -> bytes:
        if start >= self.entry.size or end <= start:
            return b""
        return self.transport.read(self.entry, start, end)
