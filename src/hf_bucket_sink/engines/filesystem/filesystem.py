"""``BucketFileSystem``: ``huggingface_hub.HfFileSystem`` whose ``hf://buckets`` paths stream and commit atomically.

::

    import fsspec, hf_bucket_sink
    hf_bucket_sink.install()                     # fsspec.filesystem("hf") is now a BucketFileSystem
    fs = fsspec.filesystem("hf", token="hf_...")
    with fs.open("hf://buckets/me/b/x.parquet", "wb") as f:
        df.to_parquet(f)                         # streams into Xet: no temp file, bounded memory
    with fs.transaction:                         # all files below, or none
        duckdb.sql("COPY t TO 'hf://buckets/me/b/out' (FORMAT parquet, PARTITION_BY (k))")

What differs from ``HfFileSystem``, for bucket paths only (models, datasets and spaces are
``HfFileSystem``'s code path, untouched):

- ``open(..., "wb")``: :class:`~hf_bucket_sink.engines.filesystem.files.BucketWriteFile`, visible on a
  clean ``close()``; discarded on an exception in its own ``with`` block; an incomplete Parquet/Arrow
  footer is refused (:class:`~hf_bucket_sink.errors.IncompleteFileError`).
- ``transaction`` / ``start_transaction`` / ``end_transaction`` work (``HfFileSystem`` raises
  ``NotImplementedError``): :class:`~hf_bucket_sink.engines.filesystem.transaction.BucketTransaction`.
- ``open(..., "rb")``: ranged reads pinned to the Xet hash the file had at ``open``.
- ``cp`` / ``mv`` between bucket paths: ``/batch`` ``copyFile`` lines with the source's Xet hash
  (and ``deleteFile`` for ``mv``, in the same request when both ends are in one bucket): no byte moves.
- ``rm``, ``ls``, ``info``, ``glob``, ``find``, ``exists``: ``HfFileSystem``'s own (server-side).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
from huggingface_hub import HfFileSystem

from hf_bucket_sink.core.commit import Deletion
from hf_bucket_sink.core.credentials import HubCredentials, resolve_credentials
from hf_bucket_sink.core.hub import BATCH_LIMIT, HubClient, now_ms
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.remote_file import RemoteEntry
from hf_bucket_sink.core.upload import UploadSession
from hf_bucket_sink.engines.filesystem.files import BucketReadFile, BucketTextFile, BucketWriteFile, PinnedRanges
from hf_bucket_sink.engines.filesystem.transaction import BucketTransaction, publish
from hf_bucket_sink.errors import BucketFileExistsError, CommitError, UploadError

__all__ = ["BucketFileSystem", "CopyLine", "register_filesystem", "unregister_filesystem"]

logger = logging.getLogger("hf_bucket_sink")

_BUCKETS = "buckets/"


@dataclass(frozen=True, slots=True)
class CopyLine:
    """A ``copyFile`` line of a ``/batch`` call: ``path`` gets the Xet hash of a file of ``source_bucket``."""

    path: str
    xet_hash: str
    mtime_ms: int
    source_bucket: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "copyFile", "path": self.path, "xetHash": self.xet_hash, "mtime": self.mtime_ms,
            "sourceRepoType": "bucket", "sourceRepoId": self.source_bucket,
        }


class BucketFileSystem(HfFileSystem):
    """The ``hf`` fsspec filesystem, streaming and transactional on ``hf://buckets/...`` paths.

    Same constructor as ``HfFileSystem`` (``token=``, ``endpoint=``, …); the token and endpoint
    default to ``HF_TOKEN`` / the token file and ``HF_ENDPOINT`` read when the filesystem is made.
    """

    transaction_type = BucketTransaction

    def __init__(self, *args: Any, endpoint: str | None = None, token: bool | str | None = None, **storage_options: Any) -> None:
        options: dict[str, Any] = {}
        if endpoint is not None:
            options["endpoint"] = endpoint
        if isinstance(token, str):
            options["token"] = token
        creds = resolve_credentials(options)
        if token is False:  # HfFileSystem's "no authentication"
            creds = HubCredentials(endpoint=creds.endpoint)
        super().__init__(*args, endpoint=creds.endpoint, token=token, **storage_options)
        self.hub = HubClient(creds)
        self._reads = PinnedRanges(self.hub)
        self._collect = threading.local()  # copy()/mv() gather cp_file pairs here, then send one batch
        #: pid of the process whose transaction was open when this filesystem was pickled (None: none)
        self._transaction_pid: int | None = None
        #: folders made with mkdir/makedirs: buckets have no empty folders, but engines (DuckDB's
        #: PARTITION_BY) make one and list it before writing into it; it lists empty in this instance
        self._made_dirs: set[str] = set()

    # -- paths -----------------------------------------------------------------------------------------
    def _bucket_path(self, path: str) -> BucketPath | None:
        """The bucket path of ``path``, or None for a model/dataset/space path."""
        stripped = self._strip_protocol(path)
        if not stripped.startswith(_BUCKETS):
            return None
        return BucketPath.parse("hf://" + stripped, kind="any")

    # -- folders ---------------------------------------------------------------------------------------
    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Buckets have no empty folders: remember it, so it lists as an empty folder until written into."""
        if self._bucket_path(path) is None:
            return super().mkdir(path, create_parents=create_parents, **kwargs)  # type: ignore[no-any-return]
        self._made_dirs.add(self._strip_protocol(path).rstrip("/"))
        return None

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if self._bucket_path(path) is None:
            return super().makedirs(path, exist_ok=exist_ok)  # type: ignore[no-any-return]
        self.mkdir(path)
        return None

    def ls(self, path: str, detail: bool = True, refresh: bool = False, revision: str | None = None, **kwargs: Any) -> Any:
        try:
            return super().ls(path, detail=detail, refresh=refresh, revision=revision, **kwargs)
        except FileNotFoundError:
            name = self._strip_protocol(path).rstrip("/")
            if name in self._made_dirs:
                self.dircache[name] = []  # HfFileSystem.info() reads a child's entry from here
                return []
            raise

    def info(self, path: str, refresh: bool = False, revision: str | None = None, **kwargs: Any) -> dict[str, Any]:
        try:
            return super().info(path, refresh=refresh, revision=revision, **kwargs)  # type: ignore[no-any-return]
        except FileNotFoundError:
            name = self._strip_protocol(path).rstrip("/")
            if name in self._made_dirs:
                return {"name": name, "size": 0, "type": "directory"}
            raise

    # -- transactions ------------------------------------------------------------------------------
    @property
    def transaction(self) -> BucketTransaction:
        """Group writes: ``with fs.transaction:`` registers every file written inside at its end, or none."""
        return fsspec.AbstractFileSystem.transaction.fget(self)  # type: ignore[no-any-return]

    def start_transaction(self) -> BucketTransaction:
        """Begin a transaction without ``with``; finish it with :meth:`end_transaction`."""
        return fsspec.AbstractFileSystem.start_transaction(self)  # type: ignore[no-any-return]

    def _get_instance_state(self) -> dict[str, Any]:
        state = super()._get_instance_state()
        # a copy made for another process (Dask distributed, multiprocessing) is outside the transaction
        state["_transaction_pid"] = os.getpid() if self._intrans else self._transaction_pid
        return state

    # -- open ----------------------------------------------------------------------------------------
    def open(self, path: str, mode: str = "rb", block_size: int | None = None, cache_options: dict[str, Any] | None = None,
             compression: str | None = None, **kwargs: Any) -> Any:
        """fsspec's ``open``; text-mode writes to a bucket discard on an exception in their ``with`` block too."""
        if "b" in mode or "r" in mode or compression is not None or self._bucket_path(path) is None:
            return super().open(path, mode, block_size=block_size, cache_options=cache_options, compression=compression, **kwargs)
        text = {k: kwargs.pop(k) for k in ("encoding", "errors", "newline") if k in kwargs}
        raw = super().open(path, mode.replace("t", "") + "b", block_size=block_size, cache_options=cache_options, **kwargs)
        return BucketTextFile(raw, **text)

    # -- open (binary) ----------------------------------------------------------------------------------------
    def _open(  # type: ignore[override]
        self, path: str, mode: str = "rb", block_size: int | None = None, revision: str | None = None,
        autocommit: bool = True, **kwargs: Any,
    ) -> Any:
        target = self._bucket_path(path)
        if target is None:
            if not autocommit and "r" not in mode:
                raise NotImplementedError(
                    "Transactions cover hf://buckets/ paths only; write model, dataset and space files outside "
                    "`fs.transaction` (HfFileSystem commits each file on close)."
                )
            return super()._open(path, mode, block_size=block_size, revision=revision, autocommit=autocommit, **kwargs)
        if "a" in mode:
            raise NotImplementedError("Appending to remote files is not yet supported.")
        if "r" in mode:
            return self._open_read(path, target, block_size, **kwargs)
        return self._open_write(path, target, mode, autocommit)

    def _open_read(self, path: str, target: BucketPath, block_size: int | None, **kwargs: Any) -> BucketReadFile:
        found = [e for e in self.hub.paths_info(target.bucket_id, [target.path]) if e.get("type", "file") == "file"]
        if not found:
            raise FileNotFoundError(f"{self._strip_protocol(path)} (no such file in bucket {target.bucket_id!r})")
        entry = RemoteEntry.from_listing(target.bucket_id, found[0])
        if block_size:
            kwargs["block_size"] = block_size
        return BucketReadFile(self, self._strip_protocol(path), entry, self._reads, **kwargs)

    def _open_write(self, path: str, target: BucketPath, mode: str, autocommit: bool) -> BucketWriteFile:
        if target.is_dir:
            raise IsADirectoryError(f"{target} names a folder; give a file path to write.")
        started_in = self._transaction_pid
        if started_in is None and self._intrans and not autocommit:
            started_in = self.transaction.pid  # a forked child inherits the open transaction as is
        if started_in is not None and started_in != os.getpid():
            raise UploadError(
                f"Not writing {target}: the `fs.transaction` of this filesystem was opened in process {started_in} "
                f"and this is process {os.getpid()} (a pickled or forked copy: Dask distributed, multiprocessing). A "
                "transaction cannot span processes, so nothing was written and the transaction will register nothing "
                "of this file. Use Dask's threaded scheduler inside the transaction, or write without one (each file "
                "then becomes visible on its own close())."
            )
        if mode == "xb" and self.exists(path, refresh=True):
            raise BucketFileExistsError(f"{target} already exists and mode 'x' was asked for; nothing was written.")
        stripped = self._strip_protocol(path)
        if not autocommit and self._intrans:
            txn = self.transaction
            txn.claim(str(target))
            writer = txn.session(target.bucket_id).open_writer(target)
            file = BucketWriteFile(
                self, stripped, target, writer, mode=mode, autocommit=False,
                publish=_in_transaction, discard=_kept_for_transaction,
            )
            txn.add(file)
            return file
        session = UploadSession(self.hub, target.bucket_id, self.hub.xet_token(target.bucket_id, write=True))
        writer = session.open_writer(target)
        return BucketWriteFile(
            self, stripped, target, writer, mode=mode, autocommit=autocommit,
            publish=lambda f: self._publish_one(session, f), discard=lambda f: session.abort(),
        )

    def _publish_one(self, session: UploadSession, file: BucketWriteFile) -> None:
        stored, _ = session.store()
        publish(self.hub, file.target.bucket_id, stored)
        self.invalidate_cache(file.path)

    # -- server-side copy / move -------------------------------------------------------------------------
    def cp_file(self, path1: str, path2: str, revision: str | None = None, **kwargs: Any) -> None:
        """Copy one file; between bucket paths by Xet hash on the server (no byte moves)."""
        src, dst = self._bucket_path(path1), self._bucket_path(path2)
        if src is None or dst is None:
            return super().cp_file(path1, path2, revision=revision, **kwargs)
        pairs = getattr(self._collect, "pairs", None)
        if pairs is not None:  # inside copy()/mv(): sent together at the end
            pairs.append((src, dst))
            return None
        self._copy_files([(src, dst)], move=False)
        return None

    def copy(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, on_error: str | None = None, **kwargs: Any) -> None:
        """fsspec's ``copy``; copies between bucket paths go to the Hub in one ``/batch`` per bucket."""
        pairs = self._collected(lambda: super(BucketFileSystem, self).copy(path1, path2, recursive, maxdepth, on_error, **kwargs))
        if pairs:
            self._copy_files(pairs, move=False)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        """Move: server-side copies then deletes of the sources (one ``/batch`` when in one bucket)."""
        if self._bucket_path(str(path1) if not isinstance(path1, list) else path1[0]) is None:
            return super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
        if path1 == path2:
            return None
        pairs = self._collected(
            lambda: super(BucketFileSystem, self).copy(path1, path2, recursive, maxdepth, "raise", **kwargs)
        )
        if pairs:
            self._copy_files(pairs, move=True)
        return None

    def _collected(self, run: Any) -> list[tuple[BucketPath, BucketPath]]:
        if getattr(self._collect, "pairs", None) is not None:
            raise RuntimeError("copy()/mv() re-entered on one thread")
        self._collect.pairs = []
        try:
            run()
            return list(self._collect.pairs)
        finally:
            self._collect.pairs = None

    def _copy_files(self, pairs: Sequence[tuple[BucketPath, BucketPath]], *, move: bool) -> None:
        hashes: dict[tuple[str, str], str] = {}
        by_source: dict[str, list[str]] = {}
        for src, _ in pairs:
            by_source.setdefault(src.bucket_id, []).append(src.path)
        for bucket_id, keys in by_source.items():
            for entry in self.hub.paths_info(bucket_id, keys):  # fresh: never a stale listing's hash
                if entry.get("type", "file") == "file" and entry.get("xetHash"):
                    hashes[(bucket_id, str(entry["path"]))] = str(entry["xetHash"])
        mtime = now_ms()
        lines: dict[str, list[Any]] = {}
        deletes: dict[str, list[Any]] = {}
        for src, dst in pairs:
            xet_hash = hashes.get((src.bucket_id, src.path))
            if xet_hash is None:
                if self.isdir(str(src)):
                    continue  # folders are implicit in buckets (fsspec's recursive copy passes them too)
                raise FileNotFoundError(f"{src} does not exist; nothing was copied.")
            lines.setdefault(dst.bucket_id, []).append(CopyLine(dst.path, xet_hash, mtime, src.bucket_id))
            if move and (src.bucket_id, src.path) != (dst.bucket_id, dst.path):
                deletes.setdefault(src.bucket_id, []).append(Deletion(src.path))
        buckets = {*lines, *deletes}
        if len(buckets) == 1:  # one bucket: copies first, then deletions, in one request
            (bucket_id,) = buckets
            _send_lines(self.hub, bucket_id, lines.get(bucket_id, []) + deletes.get(bucket_id, []))
        else:  # across buckets: delete a source only once every copy is registered
            for bucket_id, copies in lines.items():
                _send_lines(self.hub, bucket_id, copies)
            for bucket_id, rest in deletes.items():
                _send_lines(self.hub, bucket_id, rest)
        for src, dst in pairs:
            self.invalidate_cache(self._strip_protocol(str(src)))
            self.invalidate_cache(self._strip_protocol(str(dst)))


def _send_lines(hub: HubClient, bucket_id: str, lines: Sequence[Any]) -> None:
    """``copyFile``/``deleteFile`` lines in ``/batch`` requests (in order); the typed CommitError on refusal.

    The one place cp/mv/rm-by-move talk to ``/batch``. A lost answer is reported as such: the
    Hub may have applied part of the request (check with ``fs.ls``), and rerunning is safe.
    """
    for start in range(0, len(lines), BATCH_LIMIT):
        chunk = lines[start : start + BATCH_LIMIT]
        outcome = hub.batch(bucket_id, chunk)
        if outcome.failed or outcome.lost:
            reasons = "; ".join(f"{p}: {r}" for p, r in list(outcome.failed.items())[:10]) or str(outcome.lost)
            raise CommitError(
                f"The Hub did not apply {len(outcome.failed) or 'some'} of {len(chunk)} copy/delete line(s) in "
                f"{bucket_id!r}: {reasons}. Earlier requests of this call were applied; list the paths to see what "
                "is there now, and run the call again (copies and deletions are safe to repeat)."
            )


def _in_transaction(file: BucketWriteFile) -> None:
    raise UploadError(f"{file.target} is part of an open transaction: it is committed when the transaction ends.")


def _kept_for_transaction(file: BucketWriteFile) -> None:
    """Discarding one file of a transaction: it is left out of the commit (the transaction drops its bytes)."""


_previous: list[Any] = []
_registry_lock = threading.Lock()


def register_filesystem() -> None:
    """Make ``fsspec.filesystem("hf")`` a :class:`BucketFileSystem` (idempotent); see :func:`unregister_filesystem`."""
    with _registry_lock:
        if _previous:
            return
        _previous.append(fsspec.registry.get("hf"))
        fsspec.register_implementation("hf", BucketFileSystem, clobber=True)


def unregister_filesystem() -> None:
    """Give the ``hf`` protocol back to the filesystem it had before :func:`register_filesystem` (idempotent)."""
    with _registry_lock:
        if not _previous:
            return
        previous = _previous.pop()
        fsspec.register_implementation("hf", previous if previous is not None else HfFileSystem, clobber=True)
