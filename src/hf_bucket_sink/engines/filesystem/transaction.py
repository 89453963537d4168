"""``fs.transaction`` for ``hf://buckets``: every file written inside it becomes visible at once, or none.

::

    with fs.transaction:                       # BucketTransaction
        df1.to_parquet(fs.open("hf://buckets/me/b/a.parquet", "wb"))
        df2.to_parquet(fs.open("hf://buckets/me/b/b.parquet", "wb"))
    # both visible here; an exception inside the block registers neither

One :class:`~hf_bucket_sink.core.upload.UploadSession` per bucket holds every file opened in the
block (files may be opened and written from several threads: Dask's threaded scheduler, DuckDB's
``PARTITION_BY`` writers); at a clean exit each session is stored and registered through
:func:`publish`, the one call into :mod:`hf_bucket_sink.core.commit`. Any exception, a file left
open, or a Parquet/Arrow file whose footer is incomplete discards all of it.

A transaction lives in one process: a file opened inside it from another process — a filesystem
pickled while it is open (Dask's distributed scheduler, ``multiprocessing`` spawn) or inherited by a
forked child — is refused with :class:`~hf_bucket_sink.errors.UploadError` before any byte is written,
rather than published file by file (or, in a forked child, silently never).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fsspec.transaction import Transaction

from hf_bucket_sink.core.commit import CommitReport, StoredFile, commit_output
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.upload import UploadSession
from hf_bucket_sink.core.writers import UploadTuning
from hf_bucket_sink.errors import CommitError, IncompleteFileError, UploadError

if TYPE_CHECKING:
    from hf_bucket_sink.engines.filesystem.files import BucketWriteFile

__all__ = ["BucketTransaction", "publish", "TRANSACTION_TUNING"]

logger = logging.getLogger("hf_bucket_sink")

#: buffering of each file of a transaction: many may be open at once (one per partition or Dask task),
#: so each holds at most (2 + 2) x 2 MiB instead of a single file's 16 MiB
TRANSACTION_TUNING = UploadTuning(block_bytes=2 * 1024 * 1024, queue_blocks=2)


def publish(hub: HubClient, bucket_id: str, stored: Sequence[StoredFile]) -> CommitReport:
    """Make stored files visible: the one place this filesystem calls the commit protocol."""
    return commit_output(hub, bucket_id, stored)  # loose files: no directory, so no commit point to replace


class BucketTransaction(Transaction):  # type: ignore[misc]
    """fsspec's ``Transaction`` with one upload session per bucket and one commit at the end."""

    def __init__(self, fs: Any, **kwargs: Any) -> None:
        super().__init__(fs, **kwargs)
        self._lock = threading.Lock()
        self._sessions: dict[str, UploadSession] = {}
        self._files: list[BucketWriteFile] = []
        self._paths: set[str] = set()
        #: the process that started the transaction: only it can commit what is written inside
        self.pid = os.getpid()

    # -- used by the filesystem while the block runs ------------------------------------------------
    def session(self, bucket_id: str) -> UploadSession:
        """The upload session of ``bucket_id`` for this transaction (created on first use, thread-safe)."""
        with self._lock:
            session = self._sessions.get(bucket_id)
            if session is None:
                hub = self.fs.hub
                access = hub.xet_token(bucket_id, write=True)  # preflight: fails before any byte is written
                session = self._sessions[bucket_id] = UploadSession(hub, bucket_id, access, tuning=TRANSACTION_TUNING)
            return session

    def claim(self, uri: str) -> None:
        """Reserve a path: writing one path twice in a transaction is refused (which would win is unclear)."""
        with self._lock:
            if uri in self._paths:
                raise UploadError(
                    f"{uri} was opened for writing twice in one transaction; nothing is registered until the "
                    "transaction ends, so write each path once (or end the transaction in between)."
                )
            self._paths.add(uri)

    def add(self, file: BucketWriteFile) -> None:
        with self._lock:
            self._files.append(file)

    # -- fsspec's Transaction API ------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._files.clear()
            self._paths.clear()
            self.pid = os.getpid()
        super().start()

    def complete(self, commit: bool = True) -> None:
        """Register every file of the transaction (one call per bucket), or discard them all."""
        self.files.clear()  # fsspec's own queue: our files are committed below, together
        with self._lock:
            sessions, files = dict(self._sessions), list(self._files)
            self._sessions.clear()
            self._files.clear()
            self._paths.clear()
        try:
            if commit:
                self._commit(sessions, files)
            else:
                self._abort(sessions, files)
        finally:
            self.fs._intrans = False  # a failed commit still ends the transaction (as fsspec's does)

    def _abort(self, sessions: dict[str, UploadSession], files: list[BucketWriteFile]) -> None:
        for file in files:
            file.discarded = True
            if not file.closed:
                file.discard()
        for session in sessions.values():
            session.abort()
        if files:
            logger.info("transaction discarded: %d file(s) not registered", len(files))

    def _commit(self, sessions: dict[str, UploadSession], files: list[BucketWriteFile]) -> None:
        try:
            still_open = [f for f in files if not f.closed]
            if still_open:
                raise IncompleteFileError(
                    f"{len(still_open)} file(s) were still open when the transaction ended ({still_open[0].target}"
                    f"{' …' if len(still_open) > 1 else ''}). Nothing was registered; close every file inside the "
                    "`with fs.transaction:` block."
                )
            broken = [(f, p) for f in files if not f.discarded for p in [f.incomplete()] if p is not None]
            if broken:
                file, problem = broken[0]
                raise IncompleteFileError(
                    f"{file.target} was not published: {problem}, so its writer stopped part-way "
                    f"({len(broken)} such file(s)). Nothing of the transaction was registered and previous "
                    "versions are intact; write the files again."
                )
            stored = {bucket: session.store()[0] for bucket, session in sessions.items()}
        except BaseException:
            self._abort(sessions, files)
            raise
        dropped = {f.target.path for f in files if f.discarded}  # discarded in their own with-block
        done: list[str] = []
        for bucket_id, session_files in stored.items():
            keep = [f for f in session_files if f.path not in dropped]
            if not keep:
                continue
            try:
                publish(self.fs.hub, bucket_id, keep)
            except CommitError as exc:
                if done:
                    exc.add_note(f"Buckets already committed by this transaction: {', '.join(done)}.")
                raise
            done.append(bucket_id)
        for file in files:
            self.fs.invalidate_cache(file.path)
