"""``UploadSession``: one hf_xet upload commit whose files are stored, then handed to the commit protocol.

Each file of the session is a writer from :mod:`hf_bucket_sink.core.writers`::

    with UploadSession(hub, "me/b", access) as session:     # abort() on exception
        w = session.open_writer(BucketPath.parse("hf://buckets/me/b/x.parquet"))
        lf.sink_parquet(w)                                   # Polars pushes bytes
        result = session.commit()                            # finish, store, then core.commit registers

Partitioned sinks open one file per partition, possibly hundreds at once, so they use
:class:`PartitionWriter` instead: no thread, a small buffer grown on demand, writes go straight
into hf_xet on Polars' thread; Polars gets a thin handle, and when Polars drops it (it never
calls ``close()``; dropping is the one sure sign it is done) the file's Xet stream is finished
at the next opportunity, which releases hf_xet's per-stream memory (see docs/partitioned-outputs.md).

Failure rule: the files become visible only through :mod:`hf_bucket_sink.core.commit`, after
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
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from hf_bucket_sink.core.commit import UNREAD, CommitReport, ManifestStorer, StoredFile, commit_output
from hf_bucket_sink.core.hub import HubClient, XetAccess
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.result import FileResult, SinkResult
from hf_bucket_sink.core.rows import RowCounter
from hf_bucket_sink.core.settings import upload_timeout
from hf_bucket_sink.core.writers import BucketWriter, PartitionHandle, PartitionWriter, UploadTuning
from hf_bucket_sink.core.xet import StallWatchdog, forget_session, upload_commit, xet_session
from hf_bucket_sink.errors import BucketSinkError, UploadError

__all__ = ["UploadSession", "StoredFile", "manifest_storer", "result_of"]

logger = logging.getLogger("hf_bucket_sink")


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
        prepare_next: bool = True,
    ) -> None:
        self.hub = hub
        self.bucket_id = bucket_id
        self.access = access
        self.tuning = tuning or UploadTuning()
        self._started = time.perf_counter()
        self._writers: list[BucketWriter | PartitionWriter] = []
        self._rows: dict[str, int] = {}
        self._paths: set[str] = set()
        self._released: list[PartitionWriter] = []  # appended to by weakref finalizers
        self._lock = threading.Lock()
        self._closed = False
        # a loop of uploads gets a commit prepared during the previous one (core/xet.py: half a small sink's time)
        self._commit, self._settle = upload_commit(
            self.tuning.compression_policy,
            endpoint=access.cas_url,
            token=access.access_token,
            token_expiry_unix_secs=access.expires_at,
            token_refresh_url=access.refresh_url,
            token_refresh_headers=hub.headers(),
            custom_headers=hub.headers(auth=False),
            progress_callback=progress_callback,
            prepare_next=prepare_next,
        )
        self._watchdog = StallWatchdog(self._commit, upload_timeout(), self._describe)

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
        :class:`~hf_bucket_sink.core.rows.RowCounter` kind (``"parquet"``, ``"lines"`` or ``None``).
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
        handle = PartitionHandle(writer)
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
                writer.rows.settle()  # the row count is all the commit needs of the file's tail
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
        self,
        *,
        uri: str | None = None,
        directory: str | None = None,
        mode: str = "overwrite",
        manifest: bool = True,
        manifest_fields: Mapping[str, Any] | None = None,
        previous: Any = UNREAD,
    ) -> SinkResult:
        """Finish every file, wait until Xet has stored all bytes, then commit them (:func:`~hf_bucket_sink.core.commit.commit_output`).

        ``directory`` makes it a directory output with a commit point (the manifest, unless
        ``manifest=False``); ``previous`` is the manifest read when the write started.
        """
        stored, uploaded = self.store()
        report = commit_output(
            self.hub, self.bucket_id, stored, directory=directory, mode=mode,  # type: ignore[arg-type]
            manifest_fields=manifest_fields,
            store_manifest=manifest_storer(self.hub, self.bucket_id, self.access, self.tuning) if manifest and directory is not None else None,
            previous=previous,
        )
        if report.manifest_file is not None:
            uploaded += report.manifest_file.result.new_bytes
        return result_of(report, stored, uploaded, self._started, uri=uri)

    def store(self) -> tuple[list[StoredFile], int]:
        """Finish every file and wait until Xet has stored all bytes and the shard; register nothing.

        Returns the files (path order) and the bytes sent to Xet. The session is closed afterwards;
        the caller commits the files through :func:`hf_bucket_sink.core.commit.commit_output`::

            stored, sent = session.store()
            commit_output(hub, bucket_id, stored, directory="out/", store_manifest=manifest_storer(hub, bucket_id, access))
        """
        with self._watched():
            if self._closed:
                raise UploadError("This upload session is already closed.")
            self.finish_released()
            writers = sorted(self._writers, key=lambda w: w.target.path)
            stored = [self._stored(w.target, w.content_type, w.finish(), self._rows.get(w.target.path, w.rows.rows())) for w in writers]
            try:
                report = self._commit.wait_to_finish()
            except Exception as exc:
                raise UploadError(
                    f"Storing the data of {len(stored)} file(s) in Xet failed: {exc}. Nothing was registered; run it again."
                ) from exc
            self._closed = True
            self._watchdog.stop()  # all stored: registration is bounded by the Hub client's own timeouts
            self._settle(False)
        sent = int(report.dedup_metrics.total_bytes_uploaded) if report is not None else 0
        return stored, sent

    def _store_bytes(self, target: BucketPath, body: bytes, content_type: str) -> StoredFile:
        with self._watched():
            stream = self._start_stream(target)
            stream.write(body)
            stored = self._stored(target, content_type, stream.finish(), None)
            self._commit.wait_to_finish()
            self._closed = True
            self._settle(False)
        return stored

    @staticmethod
    def _stored(target: BucketPath, content_type: str, meta: Any, rows: int | None) -> StoredFile:
        return StoredFile(
            target.path,
            content_type,
            FileResult(
                uri=str(target), size=int(meta.xet_info.file_size), xet_hash=meta.xet_info.hash,
                new_bytes=int(meta.dedup_metrics.new_bytes), rows=rows,
            ),
        )

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
        self._settle(True)  # nothing prepared during a failed upload is kept

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
                    forget_session(self.tuning.compression_policy)
        elif not self._closed:
            self.abort()  # left the block without commit(): publish nothing


def manifest_storer(hub: HubClient, bucket_id: str, access: XetAccess, tuning: UploadTuning | None = None) -> ManifestStorer:
    """A ``store_manifest`` for :func:`~hf_bucket_sink.core.commit.commit_output`: stores the bytes in its own Xet commit."""

    def store(path: str, body: bytes) -> StoredFile:
        namespace, _, name = bucket_id.partition("/")
        target = BucketPath(namespace, name, path)
        try:
            # the manifest ends its write: preparing a commit after it would only delay the sink's return
            with UploadSession(hub, bucket_id, access, tuning=tuning, prepare_next=False) as session:
                return session._store_bytes(target, body, "application/json")
        except BucketSinkError:
            raise
        except Exception as exc:
            raise UploadError(
                f"Storing the manifest {target} failed: {exc}. Its data files may already be registered (see the "
                "commit log); the commit point was not written, so readers following it see the previous version. "
                "Run the write again."
            ) from exc

    return store


def result_of(report: CommitReport, stored: Sequence[StoredFile], uploaded: int, started: float, *, uri: str | None = None) -> SinkResult:
    """The :class:`SinkResult` of a commit (``started``: ``time.perf_counter()`` at the start)."""
    files = tuple(f.result for f in stored)
    if uri is None:
        uri = files[0].uri if len(files) == 1 else f"hf://buckets/{report.bucket_id}"
    return SinkResult(
        uri=uri, files=files, seconds=time.perf_counter() - started, uploaded_bytes=uploaded,
        manifest=report.manifest_file.result if report.manifest_file is not None else None,
    )
