"""The local Hub's catalog: one SQLite database for users, tokens, buckets, files and Xet metadata.

Tables: ``meta`` (server secret, store id), ``users``, ``tokens``, ``buckets``, ``files`` (one row
per bucket path), ``xorbs`` (chunk table of every stored xorb), ``reconstructions`` (file hash ->
terms), ``file_uploads`` (which bucket's write token uploaded a file hash), ``shards`` (received
shard digests) and ``dedup_chunks`` (global-dedup index: chunk hash -> xorb).

Concurrency: WAL mode; readers borrow pooled connections (no per-request connection setup) and
every write runs in ``BEGIN IMMEDIATE`` under one process-wide lock, so concurrent uploads never
see ``SQLITE_BUSY``. Timestamps are unix seconds (float); hashes are the 64-hex strings of
``xet-cas-protocol.md`` §1.1.

Example::

    cat = Catalog(Path("data/catalog.sqlite3"))
    bucket = cat.create_bucket("alice", "data", private=False)
    cat.apply_batch(bucket.id, [FileOp("add", "a.txt", xet_hash=h, size=11, mtime_ms=0)])
    cat.close()
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BucketExistsError",
    "BucketRecord",
    "Catalog",
    "FileOp",
    "FileRecord",
    "GarbageReport",
    "TokenRecord",
    "TreeEntry",
]

ZERO_HASH_HEX = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name),
    role TEXT NOT NULL CHECK (role IN ('read', 'write')), display_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
    private INTEGER NOT NULL, region TEXT, resource_group TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, UNIQUE (namespace, name));
CREATE TABLE IF NOT EXISTS files (
    bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    path TEXT NOT NULL, xet_hash TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ms INTEGER, uploaded_at REAL NOT NULL, content_type TEXT,
    PRIMARY KEY (bucket_id, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_hash ON files (xet_hash, bucket_id);
CREATE TABLE IF NOT EXISTS xorbs (
    hash TEXT PRIMARY KEY, num_chunks INTEGER NOT NULL, raw_size INTEGER NOT NULL,
    serialized_size INTEGER NOT NULL, chunk_table BLOB NOT NULL, stored_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reconstructions (
    file_hash TEXT PRIMARY KEY, size INTEGER NOT NULL, terms BLOB NOT NULL,
    sha256 TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS file_uploads (
    file_hash TEXT NOT NULL, bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    PRIMARY KEY (file_hash, bucket_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shards (
    digest TEXT PRIMARY KEY, size INTEGER NOT NULL, files INTEGER NOT NULL, xorbs INTEGER NOT NULL,
    received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_chunks (chunk_hash TEXT PRIMARY KEY, xorb_hash TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_by_xorb ON dedup_chunks (xorb_hash);
CREATE TABLE IF NOT EXISTS shard_files (
    digest TEXT NOT NULL, file_hash TEXT NOT NULL, PRIMARY KEY (digest, file_hash)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shard_files_by_file ON shard_files (file_hash);
"""

_SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class GarbageReport:
    """What :meth:`Catalog.collect_garbage` removed from the catalog."""

    files: int
    shards: int
    xorbs: list[str]
    xorb_bytes: int


class BucketExistsError(Exception):
    """``create_bucket`` / ``move_bucket`` target already exists."""


@dataclass(frozen=True)
class TokenRecord:
    token: str
    user: str
    role: str  # "read" | "write"
    display_name: str


@dataclass(frozen=True)
class BucketRecord:
    id: int
    namespace: str
    name: str
    private: bool
    region: str | None
    created_at: float
    updated_at: float

    @property
    def full_id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FileRecord:
    path: str
    xet_hash: str
    size: int
    mtime_ms: int | None
    uploaded_at: float
    content_type: str | None


@dataclass(frozen=True)
class TreeEntry:
    """A listing entry: a file (``file`` set) or a directory (``uploaded_at`` = newest file below)."""

    path: str
    file: FileRecord | None
    uploaded_at: float | None


@dataclass(frozen=True)
class FileOp:
    """One validated batch operation: ``kind`` is ``"add"`` (add or copy) or ``"delete"``."""

    kind: str
    path: str
    xet_hash: str = ""
    size: int = 0
    mtime_ms: int | None = None
    content_type: str | None = None


def _prefix_upper(prefix: str) -> str | None:
    """Smallest string greater than every string starting with ``prefix`` (None: unbounded)."""
    if not prefix:
        return None
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(last + 1)


class Catalog:
    """Thread-safe access to the SQLite catalog at ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pool: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        first = self._connect()
        first.executescript(_SCHEMA)
        self._all.append(first)
        self._pool.append(first)
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (_SCHEMA_VERSION,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (secrets.token_hex(6),))
            conn.execute("INSERT OR IGNORE INTO reconstructions VALUES (?, 0, x'', NULL, 0)", (ZERO_HASH_HEX,))

    # --- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("catalog is closed")
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect()
            with self._pool_lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            with self._pool_lock:
                self._pool.append(conn)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            conns, self._all, self._pool = self._all, [], []
        for conn in conns:
            conn.close()

    # --- meta ----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- users and tokens ----------------------------------------------------------------------

    def replace_tokens(self, tokens: Sequence[TokenRecord]) -> None:
        """Make ``tokens`` the complete set of accepted Hub tokens (users are created as needed)."""
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM tokens")
            for rec in tokens:
                conn.execute("INSERT OR IGNORE INTO users VALUES (?, ?)", (rec.user, now))
                conn.execute(
                    "INSERT INTO tokens VALUES (?, ?, ?, ?)", (rec.token, rec.user, rec.role, rec.display_name)
                )

    def tokens(self) -> list[TokenRecord]:
        with self._read() as conn:
            rows = conn.execute("SELECT token, user, role, display_name FROM tokens").fetchall()
        return [TokenRecord(*row) for row in rows]

    # --- buckets ---------------------------------------------------------------------------------

    _BUCKET_COLS = "id, namespace, name, private, region, created_at, updated_at"

    @staticmethod
    def _bucket(row: tuple[object, ...]) -> BucketRecord:
        bid, ns, name, private, region, created, updated = row
        return BucketRecord(int(bid), str(ns), str(name), bool(private), region, float(created), float(updated))  # type: ignore[arg-type]

    def create_bucket(
        self,
        namespace: str,
        name: str,
        *,
        private: bool,
        region: str | None = None,
        resource_group: str | None = None,
    ) -> BucketRecord:
        now = time.time()
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO buckets (namespace, name, private, region, resource_group, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (namespace, name, int(private), region, resource_group, now, now),
                )
            except sqlite3.IntegrityError:
                raise BucketExistsError(f"{namespace}/{name}") from None
            bucket_id = cur.lastrowid
        return BucketRecord(int(bucket_id or 0), namespace, name, private, region, now, now)

    def get_bucket(self, namespace: str, name: str) -> BucketRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._BUCKET_COLS} FROM buckets WHERE namespace = ? AND name = ?", (namespace, name)
            ).fetchone()
        return self._bucket(row) if row else None

    def get_bucket_by_id(self, bucket_id: int) -> BucketRecord | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {self._BUCKET_COLS} FROM buckets WHERE id = ?", (bucket_id,)).fetchone()
        return self._bucket(row) if row else None

    def list_buckets(
        self, namespace: str, *, include_private: bool, search: str | None, after: str | None, limit: int
    ) -> list[BucketRecord]:
        sql = f"SELECT {self._BUCKET_COLS} FROM buckets WHERE namespace = ?"
        args: list[object] = [namespace]
        if not include_private:
            sql += " AND private = 0"
        if search:
            sql += " AND instr(lower(name), ?) > 0"
            args.append(search.lower())
        if after is not None:
            sql += " AND name > ?"
            args.append(after)
        sql += " ORDER BY name LIMIT ?"
        args.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._bucket(r) for r in rows]

    def bucket_usage(self, bucket_id: int) -> tuple[int, int]:
        """(total size in bytes, number of files)."""
        with self._read() as conn:
            count, size = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE bucket_id = ?", (bucket_id,)
            ).fetchone()
        return int(size), int(count)

    def delete_bucket(self, bucket_id: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM buckets WHERE id = ?", (bucket_id,))

    def move_bucket(self, bucket_id: int, namespace: str, name: str) -> None:
        with self._write() as conn:
            try:
                conn.execute(
                    "UPDATE buckets SET namespace = ?, name = ?, updated_at = ? WHERE id = ?",
                    (namespace, name, time.time(), bucket_id),
                )
            except sqlite3.IntegrityError:
                raise BucketExistsError(f"{namespace}/{name}") from None

    def set_private(self, bucket_id: int, private: bool) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE buckets SET private = ?, updated_at = ? WHERE id = ?", (int(private), time.time(), bucket_id)
            )

    # --- files -----------------------------------------------------------------------------------

    _FILE_COLS = "path, xet_hash, size, mtime_ms, uploaded_at, content_type"

    @staticmethod
    def _file(row: tuple[object, ...]) -> FileRecord:
        return FileRecord(*row)  # type: ignore[arg-type]

    def get_files(self, bucket_id: int, paths: Iterable[str]) -> list[FileRecord]:
        out: list[FileRecord] = []
        with self._read() as conn:
            for path in paths:
                row = conn.execute(
                    f"SELECT {self._FILE_COLS} FROM files WHERE bucket_id = ? AND path = ?", (bucket_id, path)
                ).fetchone()
                if row:
                    out.append(self._file(row))
        return out

    def list_tree(
        self, bucket_id: int, prefix: str, *, recursive: bool, after: tuple[str, bool] | None, limit: int
    ) -> tuple[list[TreeEntry], tuple[str, bool] | None]:
        """One page of a listing and the key to resume after it (None when it was the last page).

        Recursive listings match ``prefix`` lexically (``logs`` also yields ``logs.json``), like the
        Hub. Non-recursive ones list the folder ``prefix``: the file named ``prefix`` if any, the
        files directly below ``prefix/``, and one directory entry per sub-folder. The resume key
        is ``(key, inclusive)``.
        """
        if recursive:
            return self._list_recursive(bucket_id, prefix, after, limit)
        return self._list_folder(bucket_id, prefix, after, limit)

    def _range_rows(
        self, conn: sqlite3.Connection, bucket_id: int, lo: str, lo_inclusive: bool, hi: str | None, limit: int
    ) -> list[tuple[object, ...]]:
        sql = f"SELECT {self._FILE_COLS} FROM files WHERE bucket_id = ? AND path {'>=' if lo_inclusive else '>'} ?"
        args: list[object] = [bucket_id, lo]
        if hi is not None:
            sql += " AND path < ?"
            args.append(hi)
        sql += " ORDER BY path LIMIT ?"
        args.append(limit)
        return conn.execute(sql, args).fetchall()

    def _list_recursive(
        self, bucket_id: int, prefix: str, after: tuple[str, bool] | None, limit: int
    ) -> tuple[list[TreeEntry], tuple[str, bool] | None]:
        lo, inclusive = after if after is not None else (prefix, True)
        if lo < prefix:
            lo, inclusive = prefix, True
        with self._read() as conn:
            rows = self._range_rows(conn, bucket_id, lo, inclusive, _prefix_upper(prefix), limit + 1)
        entries = [TreeEntry(str(r[0]), self._file(r), float(r[4])) for r in rows[:limit]]  # type: ignore[arg-type]
        more = len(rows) > limit
        return entries, ((entries[-1].path, False) if more else None)

    def _list_folder(
        self, bucket_id: int, prefix: str, after: tuple[str, bool] | None, limit: int
    ) -> tuple[list[TreeEntry], tuple[str, bool] | None]:
        base = prefix + "/" if prefix else ""
        hi = _prefix_upper(base) if base else None
        entries: list[TreeEntry] = []
        with self._read() as conn:
            if prefix and after is None:
                row = conn.execute(
                    f"SELECT {self._FILE_COLS} FROM files WHERE bucket_id = ? AND path = ?", (bucket_id, prefix)
                ).fetchone()
                if row:
                    entries.append(TreeEntry(prefix, self._file(row), float(row[4])))  # type: ignore[arg-type]
            lo, inclusive = after if after is not None else (base, True)
            if lo < base:  # resuming after the file named `prefix` itself: restart at the folder
                lo, inclusive = base, True
            # Skip-scan: read files in order; a file in a sub-folder yields one directory entry and
            # the scan jumps past that sub-folder ('0' is the character right after '/').
            while len(entries) <= limit:
                rows = self._range_rows(conn, bucket_id, lo, inclusive, hi, limit + 1)
                if not rows:
                    break
                jumped = False
                for row in rows:
                    path = str(row[0])
                    rest = path[len(base) :]
                    slash = rest.find("/")
                    if slash < 0:
                        entries.append(TreeEntry(path, self._file(row), float(row[4])))  # type: ignore[arg-type]
                        lo, inclusive = path, False
                        if len(entries) > limit:
                            break
                        continue
                    folder = base + rest[:slash]
                    newest = conn.execute(
                        "SELECT MAX(uploaded_at) FROM files WHERE bucket_id = ? AND path >= ? AND path < ?",
                        (bucket_id, folder + "/", folder + "0"),
                    ).fetchone()[0]
                    entries.append(TreeEntry(folder, None, newest))
                    lo, inclusive = folder + "0", True
                    jumped = True
                    break
                if not jumped and len(rows) <= limit:
                    break
        if len(entries) > limit:
            entries = entries[:limit]
            last = entries[-1]
            return entries, ((last.path + "0", True) if last.file is None else (last.path, False))
        return entries, None

    def apply_batch(self, bucket_id: int, ops: Sequence[FileOp]) -> list[str]:
        """Apply validated operations in order, in one transaction, and bump the bucket's ``updated_at``.

        Returns the paths of adds whose file hash is no longer registered (garbage-collected between
        validation and this transaction); those are skipped, never registered without their data.
        """
        if not ops:
            return []
        now = time.time()
        vanished: list[str] = []
        with self._write() as conn:
            for op in ops:
                if op.kind == "delete":
                    conn.execute("DELETE FROM files WHERE bucket_id = ? AND path = ?", (bucket_id, op.path))
                elif conn.execute("SELECT 1 FROM reconstructions WHERE file_hash = ?", (op.xet_hash,)).fetchone() is None:
                    vanished.append(op.path)
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (bucket_id, op.path, op.xet_hash, op.size, op.mtime_ms, now, op.content_type),
                    )
            conn.execute("UPDATE buckets SET updated_at = ? WHERE id = ?", (now, bucket_id))
        return vanished

    def bucket_has_hash(self, bucket_id: int, xet_hash: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM files WHERE xet_hash = ? AND bucket_id = ? LIMIT 1", (xet_hash, bucket_id)
            ).fetchone()
        return row is not None

    def may_use_file(self, bucket_id: int, file_hash: str) -> bool:
        """True when ``file_hash`` is in the bucket or was uploaded with a write token for it."""
        if file_hash == ZERO_HASH_HEX:
            return True
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM file_uploads WHERE file_hash = ? AND bucket_id = ?"
                " UNION ALL SELECT 1 FROM files WHERE xet_hash = ? AND bucket_id = ? LIMIT 1",
                (file_hash, bucket_id, file_hash, bucket_id),
            ).fetchone()
        return row is not None

    # --- xorbs, reconstructions, shards ------------------------------------------------------

    def insert_xorb(
        self, xorb_hash: str, *, num_chunks: int, raw_size: int, serialized_size: int, chunk_table: bytes,
        dedup_chunks: Sequence[str] = (),
    ) -> bool:
        """Record a stored xorb; False when it was already known."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO xorbs VALUES (?, ?, ?, ?, ?, ?)",
                (xorb_hash, num_chunks, raw_size, serialized_size, chunk_table, time.time()),
            )
            inserted = cur.rowcount == 1
            if inserted:
                conn.executemany(
                    "INSERT OR IGNORE INTO dedup_chunks VALUES (?, ?)", [(c, xorb_hash) for c in dedup_chunks]
                )
        return inserted

    def touch_xorb(self, xorb_hash: str) -> bool:
        """Renew a stored xorb's lease against GC (a client was just told it exists); False if unknown."""
        with self._write() as conn:
            cur = conn.execute("UPDATE xorbs SET stored_at = ? WHERE hash = ?", (time.time(), xorb_hash))
        return cur.rowcount == 1

    def collect_garbage(self, cutoff: float, xorbs_of_terms: Callable[[bytes], Iterable[str]]) -> GarbageReport:
        """Delete, in one transaction, what no bucket file references and was not leased since ``cutoff``.

        File reconstructions no ``files`` row uses (created or re-announced before ``cutoff``), their
        upload records and shard links, shard rows left without files, then xorbs no remaining
        reconstruction uses (stored or leased before ``cutoff``) with their dedup entries. Returns
        the removed xorbs so the caller can delete their files *after* the commit: a crash in between
        leaves orphan files (swept later), never a row without its file.
        """
        with self._write() as conn:
            dead_files = [r[0] for r in conn.execute(
                "SELECT file_hash FROM reconstructions r WHERE file_hash != ? AND created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM files f WHERE f.xet_hash = r.file_hash)",
                (ZERO_HASH_HEX, cutoff),
            )]
            touched = {r[0] for h in dead_files
                       for r in conn.execute("SELECT digest FROM shard_files WHERE file_hash = ?", (h,))}
            for table, column in (("reconstructions", "file_hash"), ("file_uploads", "file_hash"),
                                  ("shard_files", "file_hash")):
                conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(h,) for h in dead_files])
            dead_shards = [d for d in touched
                           if conn.execute("SELECT 1 FROM shard_files WHERE digest = ? LIMIT 1", (d,)).fetchone() is None]
            conn.executemany("DELETE FROM shards WHERE digest = ?", [(d,) for d in dead_shards])
            live: set[str] = set()
            for (blob,) in conn.execute("SELECT terms FROM reconstructions"):
                live.update(xorbs_of_terms(bytes(blob)))
            dead_xorbs = [(h, int(n)) for h, n in conn.execute(
                "SELECT hash, serialized_size FROM xorbs WHERE stored_at < ?", (cutoff,)) if h not in live]
            conn.executemany("DELETE FROM xorbs WHERE hash = ?", [(h,) for h, _ in dead_xorbs])
            conn.executemany("DELETE FROM dedup_chunks WHERE xorb_hash = ?", [(h,) for h, _ in dead_xorbs])
        return GarbageReport(
            files=len(dead_files), shards=len(dead_shards), xorbs=[h for h, _ in dead_xorbs],
            xorb_bytes=sum(n for _, n in dead_xorbs),
        )

    def xorb_hashes(self) -> set[str]:
        with self._read() as conn:
            return {r[0] for r in conn.execute("SELECT hash FROM xorbs")}

    def has_xorb(self, xorb_hash: str) -> bool:
        with self._read() as conn:
            return conn.execute("SELECT 1 FROM xorbs WHERE hash = ?", (xorb_hash,)).fetchone() is not None

    def xorb_row(self, xorb_hash: str) -> tuple[int, bytes] | None:
        """(serialized size, encoded chunk table) of a stored xorb."""
        with self._read() as conn:
            row = conn.execute("SELECT serialized_size, chunk_table FROM xorbs WHERE hash = ?", (xorb_hash,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def reconstruction(self, file_hash: str) -> tuple[int, bytes] | None:
        """(size, encoded terms) of a registered file hash."""
        with self._read() as conn:
            row = conn.execute("SELECT size, terms FROM reconstructions WHERE file_hash = ?", (file_hash,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def record_shard(
        self,
        *,
        digest: str,
        size: int,
        bucket_id: int,
        files: Sequence[tuple[str, int, bytes, str | None]],
        num_xorbs: int,
        dedup_chunks: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Register a verified shard's files (hash, size, terms, sha256); False if the shard was known."""
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO shards VALUES (?, ?, ?, ?, ?)", (digest, size, len(files), num_xorbs, now)
            )
            new = cur.rowcount == 1
            # executemany: one statement per table, not three per file (a shard can list 1,000 files)
            # A known file gets a fresh created_at: the lease that keeps GC off it until its batch.
            conn.executemany(
                "INSERT INTO reconstructions VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (file_hash) DO UPDATE SET created_at = excluded.created_at",
                [(file_hash, file_size, terms, sha, now) for file_hash, file_size, terms, sha in files],
            )
            conn.executemany("INSERT OR IGNORE INTO file_uploads VALUES (?, ?)", [(f[0], bucket_id) for f in files])
            conn.executemany("INSERT OR IGNORE INTO shard_files VALUES (?, ?)", [(digest, f[0]) for f in files])
            conn.executemany("INSERT OR IGNORE INTO dedup_chunks VALUES (?, ?)", dedup_chunks)
        return new

    def dedup_xorb(self, chunk_hash: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT xorb_hash FROM dedup_chunks WHERE chunk_hash = ?", (chunk_hash,)).fetchone()
        return str(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        """Totals over the whole data directory (for stats)."""
        with self._read() as conn:
            return {
                "buckets": conn.execute("SELECT COUNT(*) FROM buckets").fetchone()[0],
                "files": conn.execute("SELECT COUNT(*) FROM files").fetchone()[0],
                # logical bytes of every registered file (a file in two buckets counts twice):
                # against xorb_bytes this says how much storage dedup saved hub-wide (used by `du`)
                "file_bytes": conn.execute("SELECT COALESCE(SUM(size), 0) FROM files").fetchone()[0],
                "xorbs": conn.execute("SELECT COUNT(*) FROM xorbs").fetchone()[0],
                "xorb_bytes": conn.execute("SELECT COALESCE(SUM(serialized_size), 0) FROM xorbs").fetchone()[0],
                "xorb_raw_bytes": conn.execute("SELECT COALESCE(SUM(raw_size), 0) FROM xorbs").fetchone()[0],
                "reconstructions": conn.execute("SELECT COUNT(*) FROM reconstructions").fetchone()[0],
                "shards": conn.execute("SELECT COUNT(*) FROM shards").fetchone()[0],
            }
