"""``UploadSession``: one hf_xet upload commit whose files are stored, then handed to the commit protocol.

Each file of the session is a writer from :mod:`hf_bucket_sink.core.writers`::

    with UploadSession(hub, "me/b", access) as session:     # abort() on exception
        w = session.open_writer(BucketPath.parse("hf://buckets/me/b/x.parquet"))
        lf.sink_parquet(w)                                   # Polars pushes bytes
        result = session.commit()                            # finish, store, then core.commit registers

Partitioned sinks open one file per partition, possibly thousands, so they use
:class:`PartitionWriter` instead: no thread per file, a small buffer grown on demand, writes go
straight into hf_xet on Polars' thread; Polars gets a thin handle. When Polars drops it (it never
calls ``close()``; dropping is the one sure sign it is done) the file is handed to a few finisher
threads (bounded queue), which finish its Xet stream off Polars' thread: hf_xet's finish waits for
a round trip (the global-dedup query), which would otherwise stall the query once per file.
Every ``files_per_commit`` partitions the session rolls over to a new hf_xet upload commit; a
finisher waits for the full one once all its files are finished, so hf_xet's per-file state
(about 13 KB a file, measured, kept until its commit is waited for) stays bounded in the number
of files, and the end-of-query wait covers only the last group. Every group is stored before
anything is registered: the commit protocol is unchanged (docs/benchmarks-partitions.md).

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
import functools
import io
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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

_STOP = object()  # finisher queue sentinel
_POLL_S = 0.1  # how often a blocked put looks for a failure


@dataclass(frozen=True)
class _WaitFor:
    """Finisher work item: wait for a sealed group whose files were all finished before it was sealed."""

    group: _Group


@dataclass
class _Totals:
    """Progress summed over a session's hf_xet commits (what the watchdog and the progress line read)."""

    total_bytes: int = 0
    total_bytes_completed: int = 0
    total_transfer_bytes: int = 0
    total_transfer_bytes_completed: int = 0

    @classmethod
    def of(cls, report: Any) -> _Totals:
        return cls(int(report.total_bytes), int(report.total_bytes_completed),
                   int(report.total_transfer_bytes), int(report.total_transfer_bytes_completed))

    def __add__(self, other: _Totals) -> _Totals:
        return _Totals(self.total_bytes + other.total_bytes, self.total_bytes_completed + other.total_bytes_completed,
                       self.total_transfer_bytes + other.total_transfer_bytes,
                       self.total_transfer_bytes_completed + other.total_transfer_bytes_completed)


class _Group:
    """One hf_xet upload commit of a session and the files started in it."""

    def __init__(self, index: int, commit: Any) -> None:
        self.index = index
        self.commit: Any = commit  # dropped once waited for: hf_xet frees the group's per-file state
        self.opened = 0
        self.finished = 0
        self.sealed = False  # no new file starts in it
        self.claimed = False  # someone waits (or waited) for it: exactly once
        self.sent = 0
        self.final = _Totals()


class _Commits:
    """What :class:`StallWatchdog` watches: every live commit of the session, as one."""

    def __init__(self, session: UploadSession) -> None:
        self._session = session

    def progress(self) -> _Totals:
        totals = self._session._totals()
        finisher = self._session._finisher
        if finisher.pending():
            # a finish() waits for a round trip that moves no byte counter: count queued or running
            # finishes as pending work, and each finished file as progress, so a server that dies
            # while files are being finished is a stall too
            totals.total_transfer_bytes = max(totals.total_transfer_bytes, totals.total_transfer_bytes_completed + 1)
        totals.total_bytes_completed += finisher.done
        return totals

    def abort(self) -> None:
        self._session._abort_commits()


class _Finisher:
    """Finishes released partition files on a few threads, off Polars' thread (bounded queue).

    ``work(writer)`` runs on a worker; the first exception stops every worker and is kept in
    :attr:`error`. :meth:`close` (after the last :meth:`put`) waits for the queue to drain and joins
    the workers; :meth:`abort` drops what is queued and joins them.
    """

    def __init__(self, work: Callable[[Any], None], threads: int, depth: int) -> None:
        self.error: BaseException | None = None
        self._work = work
        self._threads_wanted = threads
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ended = False  # closed or aborted: no thread starts any more
        self._busy = 0  # items being worked on
        self.done = 0  # items worked on

    def pending(self) -> bool:
        """Whether an item is queued or being worked on."""
        return self._busy > 0 or not self._queue.empty()

    def put(self, item: Any) -> None:
        """Queue one item (blocks while the queue is full); ignored once the finisher has ended or failed."""
        with self._lock:
            if self._ended:  # e.g. a Polars thread still winding down after the session was aborted
                return
            if not self._threads:
                for i in range(self._threads_wanted):
                    thread = threading.Thread(target=self._run, name=f"hf-bucket-sink-finish-{i}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        while True:  # blocking put that still notices a failure: finishing that lags slows the query
            if self.error is not None or self._stop.is_set():
                return
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP or self._stop.is_set():
                return
            with self._lock:
                self._busy += 1
            try:
                self._work(item)
            except BaseException as exc:  # kept for the producer's side, which raises it typed
                if self.error is None:
                    self.error = exc
                self._stop.set()
                return
            finally:
                with self._lock:
                    self._busy -= 1
                    self.done += 1

    def close(self) -> None:
        with self._lock:
            self._ended = True
        for _ in self._threads:
            self._put_stop()
        self._join()

    def abort(self) -> None:
        with self._lock:
            self._ended = True
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._put_stop()
        self._join()

    def _put_stop(self) -> None:
        while any(t.is_alive() for t in self._threads):
            try:
                self._queue.put(_STOP, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)
            if thread.is_alive():  # pragma: no cover - hf_xet did not return from finish()/wait_to_finish()
                logger.warning("finisher thread %s did not stop within 60 s", thread.name)
        self._threads = [t for t in self._threads if t.is_alive()]


def _settled(discard: bool) -> None:
    """The settle of an upload that has not built its first commit yet: nothing to join or discard."""


class UploadSession:
    """One upload of files into a bucket (one or more hf_xet upload commits); files become visible together in :meth:`commit`."""

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
        self._progress_callback = progress_callback
        self._progress: dict[int, _Totals] = {}
        self._writers: dict[str, BucketWriter | PartitionWriter] = {}  # not yet finished
        self._group_of: dict[str, _Group] = {}  # partition path -> its commit, while unfinished
        self._done: list[StoredFile] = []  # partitions finished early: all the commit needs of them
        self._rows: dict[str, int] = {}
        self._paths: set[str] = set()
        self._released: list[PartitionWriter] = []  # appended to by weakref finalizers
        self._lock = threading.Lock()
        self._roll_lock = threading.Lock()
        self._closed = False
        self._prepare_next = prepare_next
        self._settle: Callable[[bool], None] = _settled
        self._groups: list[_Group] = []
        self._group = self._new_group()
        self._finisher = _Finisher(self._finish_one, self.tuning.finisher_threads, self.tuning.finisher_queue)
        self._watchdog = StallWatchdog(_Commits(self), upload_timeout(), self._describe)

    @property
    def _commit(self) -> Any:
        """The hf_xet commit new files start in."""
        return self._group.commit

    def _new_group(self) -> _Group:
        index = len(self._groups)
        callback = None if self._progress_callback is None else functools.partial(self._report_progress, index)
        kwargs: dict[str, Any] = {
            "endpoint": self.access.cas_url,
            "token": self.access.access_token,
            "token_expiry_unix_secs": self.access.expires_at,
            "token_refresh_url": self.access.refresh_url,
            "token_refresh_headers": self.hub.headers(),
            "custom_headers": self.hub.headers(auth=False),
            "progress_callback": callback,
        }
        if index == 0:
            # a loop of uploads gets its first commit prepared during the previous upload (core/xet.py)
            commit, self._settle = upload_commit(self.tuning.compression_policy, prepare_next=self._prepare_next, **kwargs)
        else:  # a roll-over inside one large partitioned upload: nothing to gain from preparing it
            commit = xet_session(self.tuning.compression_policy).new_upload_commit(**kwargs)
        group = _Group(index, commit)
        with self._lock:
            self._groups.append(group)
        return group

    def _report_progress(self, index: int, report: Any, items: Any) -> None:
        # hf_xet reports per commit; the user's callback sees the sum over the session's commits
        with self._lock:
            self._progress[index] = _Totals.of(report)
            summed = sum(self._progress.values(), _Totals())
        assert self._progress_callback is not None
        self._progress_callback(summed, items)

    def _totals(self) -> _Totals:
        with self._lock:
            groups = list(self._groups)
        total = _Totals()
        for group in groups:
            commit = group.commit
            total = total + (group.final if commit is None else _Totals.of(commit.progress()))
        return total

    def _abort_commits(self) -> None:
        with self._lock:
            commits = [g.commit for g in self._groups if g.commit is not None]
        for commit in commits:
            try:
                commit.abort()
            except Exception as exc:  # best effort: it may have finished or failed already
                logger.debug("aborting an Xet commit failed: %s", exc)

    def _describe(self) -> str:
        with self._lock:
            names = [str(w.target) for w in list(self._writers.values())[:3]] or [f.path for f in self._done[:3]]
            count = len(self._writers) or len(self._done)
        more = f" and {count - 3} more file(s)" if count > 3 else ""
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
        with self._lock:
            self._writers[target.path] = writer
        return writer

    def open_partition(
        self, target: BucketPath, *, content_type: str | None = None, rows: str | None = None
    ) -> io.RawIOBase:
        """A file for one partition; returns the handle to give Polars.

        Files Polars has dropped since the last call are handed to the finisher first (their Xet
        streams are finished while the query goes on; errors surface here, inside the query).
        """
        self.finish_released()
        with self._lock:
            if target.path in self._paths:
                raise UploadError(
                    f"Two partitions were given the same file {target}; make the file_path_provider return "
                    "a distinct path per (partition keys, index_in_partition)."
                )
            self._paths.add(target.path)
            group = self._group
            full = group.opened >= self.tuning.files_per_commit
            if not full:
                group.opened += 1
        if full:
            group = self._roll_over()
        writer = PartitionWriter(
            target, functools.partial(self._start_stream, target, group.commit), self.tuning, content_type=content_type,
            rows=RowCounter(rows, self.tuning.partition_rows_tail_bytes),
        )
        handle = PartitionHandle(writer)
        with self._lock:
            self._writers[target.path] = writer
            self._group_of[target.path] = group
        weakref.finalize(handle, self._released.append, writer)  # list.append: safe from any thread
        return handle

    def _roll_over(self) -> _Group:
        """Seal the full group and start the next commit; returns the group the new file goes into."""
        with self._roll_lock:  # one roll at a time; a file opened meanwhile may have rolled already
            with self._lock:
                full = self._group
            if full.opened >= self.tuning.files_per_commit:
                fresh = self._new_group()
                with self._lock:
                    full.sealed = True
                    self._group = fresh
                if self._claim(full):  # its files were all finished already: wait for it off this thread too
                    self._finisher.put(_WaitFor(full))
            with self._lock:
                group = self._group
                group.opened += 1
        return group

    def finish_released(self) -> int:
        """Hand the partition files Polars has let go of to the finisher; returns how many."""
        self._raise_finisher_error()
        done = 0
        while self._released:
            writer = self._released.pop()
            writer.released = True
            if not self._closed:
                self._finisher.put(writer)
                done += 1
        self._raise_finisher_error()
        return done

    def _finish_one(self, item: PartitionWriter | _WaitFor) -> None:
        """On a finisher thread: finish one partition's stream, or wait for a full group."""
        if isinstance(item, _WaitFor):
            self._wait_group(item.group)
            return
        writer = item
        meta = writer.finish()
        path = writer.target.path
        stored = self._stored(writer.target, writer.content_type, meta, self._rows.get(path, writer.rows.settle()))
        with self._lock:
            self._writers.pop(path, None)
            group = self._group_of.pop(path)
            self._done.append(stored)
            group.finished += 1
        if self._claim(group):
            self._wait_group(group)

    def _claim(self, group: _Group) -> bool:
        """True once for a sealed group whose files are all finished: the caller waits for it."""
        with self._lock:
            if group.sealed and not group.claimed and group.finished == group.opened:
                group.claimed = True
                return True
            return False

    def _wait_group(self, group: _Group) -> None:
        commit = group.commit
        try:
            report = commit.wait_to_finish()
        except Exception as exc:
            raise UploadError(
                f"Storing the data of {group.finished} file(s) in Xet failed: {exc}. Nothing was registered; run it again."
            ) from exc
        final = _Totals.of(commit.progress())
        with self._lock:
            group.sent = int(report.dedup_metrics.total_bytes_uploaded) if report is not None else 0
            group.final = final
            group.commit = None  # hf_xet frees the group's per-file state with the object

    def _raise_finisher_error(self) -> None:
        failure = self._finisher_failure()
        if failure is not None:
            raise failure from self._finisher.error

    def _finisher_failure(self) -> BucketSinkError | None:
        error = self._finisher.error
        if error is None:
            return None
        if self._watchdog.error is not None:  # the root cause: the finisher saw its "cancelled" echo
            return self._watchdog.error
        if isinstance(error, BucketSinkError):
            return error
        return UploadError(
            f"Finishing a partition file in Xet storage failed: {error!r}. Nothing was registered and any "
            "previous version is intact; run the sink again (bytes already stored are not re-sent)."
        )

    def failure(self) -> BucketSinkError | None:
        """The first upload error recorded by any file of this session (Polars may have wrapped it)."""
        if self._watchdog.error is not None:  # the root cause: the writers' errors are its "cancelled" echoes
            return self._watchdog.error
        failure = self._finisher_failure()
        if failure is not None:
            return failure
        with self._lock:
            writers = list(self._writers.values())
        for writer in writers:
            failure = writer.failure()
            if failure is not None:
                return failure
        return None

    def set_rows(self, target: BucketPath, rows: int) -> None:
        self._rows[target.path] = rows

    def _start_stream(self, target: BucketPath, commit: Any = None) -> Any:
        import hf_xet

        if self._closed:
            raise UploadError("This upload session is closed; start a new sink.")
        return (commit or self._commit).start_upload_stream(name=target.path, sha256=hf_xet.SKIP_SHA256)

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
        """Finish every file and wait until Xet has stored all bytes and the shards; register nothing.

        Returns the files (path order) and the bytes sent to Xet. The session is closed afterwards;
        the caller commits the files through :func:`hf_bucket_sink.core.commit.commit_output`::

            stored, sent = session.store()
            commit_output(hub, bucket_id, stored, directory="out/", store_manifest=manifest_storer(hub, bucket_id, access))
        """
        with self._watched():
            if self._closed:
                raise UploadError("This upload session is already closed.")
            self.finish_released()
            with self._lock:
                partitions = sorted(
                    (w for w in self._writers.values() if isinstance(w, PartitionWriter) and not w.released), key=lambda w: w.target.path
                )
            for writer in partitions:  # still held when the query ended (CSV keys): finished in parallel too
                writer.released = True
                self._finisher.put(writer)
            self._finisher.close()
            self._raise_finisher_error()
            with self._lock:
                others = sorted(self._writers.values(), key=lambda w: w.target.path)
            stored = [self._stored(w.target, w.content_type, w.finish(), self._rows.get(w.target.path, w.rows.rows())) for w in others]
            for group in self._groups:
                group.sealed = True
                if group.commit is not None and not group.claimed:
                    group.claimed = True
                    self._wait_group(group)
            self._closed = True
            self._watchdog.stop()  # all stored: registration is bounded by the Hub client's own timeouts
            self._settle(False)
            stored.extend(self._done)
            stored.sort(key=lambda f: f.path)
        return stored, sum(g.sent for g in self._groups)

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
        """Cancel every file and every commit, join the finisher threads; nothing is registered."""
        self._closed = True
        self._watchdog.stop()
        self._abort_commits()  # first: unblocks a finisher waiting in hf_xet
        self._finisher.abort()
        with self._lock:
            writers = list(self._writers.values())
        for writer in writers:
            writer.abort()
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
        untracked=report.untracked, superseded_by=report.superseded_by, unlisted=report.unlisted,
    )
