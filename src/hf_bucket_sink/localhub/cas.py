"""Content-addressed Xet storage of the local Hub: xorbs on disk, shards and reconstructions in SQLite.

Layout of a data directory::

    xorbs/<hh>/<xorb hash>     serialized xorb exactly as uploaded (chunks only, no footer)
    tmp/                       temp files; emptied at start; renamed into place when complete
    catalog.sqlite3            see :mod:`.catalog`

Every xorb is verified before it is stored (:func:`.xorb.parse_xorb` recomputes each chunk hash
and the xorb hash), written to ``tmp/``, optionally fsynced, renamed into place, and only then
recorded in the catalog: a reader never sees a partial xorb, and a rejected one leaves nothing.
Shards are checked against the stored xorbs (:func:`.shard.verify_file_terms`) before any of their
files is registered, in one transaction.

Example::

    store = CasStore(Path("data"), catalog)
    info = store.verify_xorb(xorb_hex, body)        # raises InvalidUploadError
    store.store_xorb(info, body)                     # True if new
    store.ingest_shard(shard_body, bucket_id=1)      # registers file hashes
    plan = store.plan(file_hex, 0, 99)               # reconstruction terms + fetch ranges
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from .catalog import Catalog
from .hashing import ZERO_HASH, hash_to_hex, hex_to_hash
from .shard import (
    ShardChunk,
    ShardFormatError,
    ShardXorb,
    Term,
    UnknownXorbError,
    build_shard,
    parse_shard,
    verify_file_terms,
    verify_xorb_listing,
)
from .xorb import XorbFormatError, XorbInfo, decode_chunk_table, encode_chunk_table, iter_chunk_data, parse_xorb

__all__ = [
    "CasStore",
    "FileReconstruction",
    "GcResult",
    "InvalidUploadError",
    "Plan",
    "PlannedTerm",
    "RangeNotSatisfiableError",
    "ShardResult",
    "StoredTerm",
    "term_xorbs",
]

logger = logging.getLogger(__name__)

_TERM = struct.Struct("<32sIII")  # xorb hash, chunk_start, chunk_end, unpacked bytes
#: Reads of stored xorbs for file bytes are batched into windows of about this many bytes.
_READ_WINDOW = 8 << 20
#: Lifetime announced in global-dedup shards (the client ignores expired ones).
_DEDUP_SHARD_TTL = 7 * 24 * 3600

K = TypeVar("K")
V = TypeVar("V")


class InvalidUploadError(ValueError):
    """An uploaded xorb or shard is malformed, corrupted or references unknown data (HTTP 400)."""


class RangeNotSatisfiableError(ValueError):
    """The requested range starts at or beyond the end of the file (HTTP 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range start beyond end of file (size {size})")
        self.size = size


class _LRU(Generic[K, V]):
    """A small thread-safe LRU map (xorb chunk tables and file terms are re-read often)."""

    def __init__(self, capacity: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)


@dataclass(frozen=True)
class StoredTerm:
    """One term of a registered file: chunks ``[start, end)`` of ``xorb`` (64-hex), ``unpacked`` bytes."""

    xorb: str
    start: int
    end: int
    unpacked: int


@dataclass(frozen=True)
class FileReconstruction:
    file_hash: str
    size: int
    terms: tuple[StoredTerm, ...]


@dataclass(frozen=True)
class PlannedTerm:
    xorb: str
    start: int
    end: int
    unpacked: int


@dataclass
class Plan:
    """A reconstruction answer: terms trimmed to the range at chunk granularity, and fetch ranges.

    ``fetch[xorb]`` lists ``(chunk_start, chunk_end, byte_start, byte_end_inclusive)`` descriptors,
    sorted, each covering whole terms (the client requires a term to sit inside one descriptor).
    """

    size: int
    start: int
    end: int  # exclusive
    offset_into_first_range: int
    terms: list[PlannedTerm]
    fetch: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ShardResult:
    new: bool
    files: int
    xorbs: int


def _encode_terms(terms: Sequence[Term]) -> bytes:
    return b"".join(_TERM.pack(t.xorb_hash, t.chunk_start, t.chunk_end, t.unpacked_bytes) for t in terms)


def _decode_terms(blob: bytes) -> tuple[StoredTerm, ...]:
    return tuple(StoredTerm(hash_to_hex(h), s, e, n) for h, s, e, n in _TERM.iter_unpack(blob))


def term_xorbs(blob: bytes) -> set[str]:
    """The xorbs (64-hex) an encoded reconstruction uses: what keeps them alive in GC."""
    return {hash_to_hex(h) for h, _, _, _ in _TERM.iter_unpack(blob)}


@dataclass(frozen=True)
class GcResult:
    """What one garbage collection removed (see :meth:`CasStore.collect_garbage`)."""

    files: int
    shards: int
    xorbs: int
    xorb_bytes: int
    orphan_files: int
    seconds: float


def _dedup_eligible(chunk_hash: bytes) -> bool:
    # xet-cas-protocol.md §3.1: the client queries chunks whose last u64 (LE) is divisible by 1024.
    return int.from_bytes(chunk_hash[24:32], "little") % 1024 == 0


class CasStore:
    """Xorb files under ``root`` plus their metadata in ``catalog``."""

    def __init__(self, root: Path, catalog: Catalog, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.catalog = catalog
        self.fsync = fsync
        self.xorb_dir = self.root / "xorbs"
        self.tmp_dir = self.root / "tmp"
        self.xorb_dir.mkdir(parents=True, exist_ok=True)
        # Leftovers of a crash are incomplete by construction: they were never renamed into place.
        remove_tree(self.tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._xorbs: _LRU[str, XorbInfo] = _LRU(512)
        self._files: _LRU[str, FileReconstruction] = _LRU(4096)
        # Publishing a xorb (rename + row) and GC (row removal + unlink) exclude each other, so GC
        # can never unlink a file that an upload has just put back in place.
        self._gc_lock = threading.Lock()

    # --- xorbs -----------------------------------------------------------------------------------

    def xorb_path(self, xorb_hex: str) -> Path:
        return self.xorb_dir / xorb_hex[:2] / xorb_hex

    def has_xorb(self, xorb_hex: str) -> bool:
        return self.catalog.has_xorb(xorb_hex)

    def lease_xorb(self, xorb_hex: str) -> bool:
        """``has_xorb`` for upload paths: a client told "already stored" will reference the xorb in a
        shard soon, so its GC grace period starts again now."""
        return self.catalog.touch_xorb(xorb_hex)

    @staticmethod
    def verify_xorb(xorb_hex: str, body: bytes) -> XorbInfo:
        """Parse and hash-check an uploaded xorb whose URL names ``xorb_hex``."""
        try:
            expected = hex_to_hash(xorb_hex)
        except ValueError as exc:
            raise InvalidUploadError(f"invalid xorb hash {xorb_hex!r}: {exc}") from None
        try:
            info = parse_xorb(body, expected)
        except XorbFormatError as exc:
            raise InvalidUploadError(f"xorb {xorb_hex} rejected: {exc}") from None
        if info.serialized_size != len(body):
            # A footer is tolerated by the parser but never stored: data URLs serve chunks only.
            raise InvalidUploadError(f"xorb {xorb_hex} rejected: upload the chunks without a footer")
        return info

    def stage(self, body: bytes) -> Path:
        """Write ``body`` to a new temp file (fsynced if configured) and return its path."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="xorb-")
        try:
            if hasattr(os, "posix_fallocate") and body:
                os.posix_fallocate(fd, 0, len(body))  # one extent up front: measurably less CPU per write
            view = memoryview(body)
            written = 0
            while written < len(view):  # raw writes: no buffered-writer copy of a 64 MiB body
                written += os.write(fd, view[written:])
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            Path(name).unlink(missing_ok=True)
            raise
        os.close(fd)
        return Path(name)

    def publish(self, info: XorbInfo, staged: Path) -> bool:
        """Rename a staged, verified xorb into place and record it; False if it was already stored."""
        xorb_hex = hash_to_hex(info.hash)
        with self._gc_lock:
            if self.catalog.touch_xorb(xorb_hex):
                staged.unlink(missing_ok=True)
                return False
            target = self.xorb_path(xorb_hex)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
            if self.fsync:
                _fsync_dir(target.parent)
            inserted = self.catalog.insert_xorb(
                xorb_hex,
                num_chunks=info.num_chunks,
                raw_size=info.raw_size,
                serialized_size=info.serialized_size,
                chunk_table=encode_chunk_table(info),
                dedup_chunks=[hash_to_hex(c.hash) for c in info.chunks if _dedup_eligible(c.hash)],
            )
        if inserted:
            self._xorbs.put(xorb_hex, info)
        return inserted

    def store_xorb(self, info: XorbInfo, body: bytes) -> bool:
        """Store a verified xorb atomically; False (and nothing written) if it was already stored."""
        if self.lease_xorb(hash_to_hex(info.hash)):
            return False
        return self.publish(info, self.stage(body))

    def xorb_info(self, xorb_hex: str) -> XorbInfo | None:
        info = self._xorbs.get(xorb_hex)
        if info is not None:
            return info
        row = self.catalog.xorb_row(xorb_hex)
        if row is None:
            return None
        info = decode_chunk_table(hex_to_hash(xorb_hex), row[1])
        self._xorbs.put(xorb_hex, info)
        return info

    def xorb_size(self, xorb_hex: str) -> int | None:
        row = self.catalog.xorb_row(xorb_hex)
        return row[0] if row else None

    def _chunk_lookup(self, attr: str) -> Callable[[bytes], Sequence[object] | None]:
        # memoized for one shard: a shard of many small files names the same few xorbs once per file,
        # and building a xorb's hash/size tuples each time made ingesting 1,000 files quadratic
        seen: dict[bytes, Sequence[object] | None] = {}

        def lookup(xorb_hash: bytes) -> Sequence[object] | None:
            if xorb_hash not in seen:
                info = self.xorb_info(hash_to_hex(xorb_hash))
                seen[xorb_hash] = None if info is None else getattr(info, attr)
            return seen[xorb_hash]

        return lookup

    # --- shards ----------------------------------------------------------------------------------

    def ingest_shard(self, body: bytes, *, bucket_id: int) -> ShardResult:
        """Verify a shard against the stored xorbs and register its files for ``bucket_id``."""
        try:
            shard = parse_shard(body)
        except ShardFormatError as exc:
            raise InvalidUploadError(f"invalid shard: {exc}") from None
        for sx in shard.xorbs:
            self._check_shard_xorb(sx)
        hashes_of = self._chunk_lookup("chunk_hashes")
        sizes_of = self._chunk_lookup("chunk_sizes")
        files: list[tuple[str, int, bytes, str | None]] = []
        dedup: list[tuple[str, str]] = []
        for f in shard.files:
            file_hex = hash_to_hex(f.file_hash)
            try:
                verify_file_terms(f, hashes_of, sizes_of)  # type: ignore[arg-type]
            except UnknownXorbError as exc:
                raise InvalidUploadError(
                    f"shard rejected: file {file_hex} references xorb {hash_to_hex(exc.xorb_hash)},"
                    " which was never uploaded"
                ) from None
            except ShardFormatError as exc:
                raise InvalidUploadError(f"shard rejected: file {file_hex}: {exc}") from None
            sha = hash_to_hex(f.sha256) if f.sha256 and f.sha256 != ZERO_HASH else None
            files.append((file_hex, f.size, _encode_terms(f.terms), sha))
            if f.terms:  # the first chunk of every file is a global-dedup key (§3.1)
                first = f.terms[0]
                info = self.xorb_info(hash_to_hex(first.xorb_hash))
                if info is not None:
                    dedup.append((hash_to_hex(info.chunks[first.chunk_start].hash), hash_to_hex(first.xorb_hash)))
        new = self.catalog.record_shard(
            digest=hashlib.sha256(body).hexdigest(),
            size=len(body),
            bucket_id=bucket_id,
            files=files,
            num_xorbs=len(shard.xorbs),
            dedup_chunks=dedup,
        )
        return ShardResult(new=new, files=len(files), xorbs=len(shard.xorbs))

    def _check_shard_xorb(self, sx: ShardXorb) -> None:
        xorb_hex = hash_to_hex(sx.hash)
        info = self.xorb_info(xorb_hex)
        try:
            verify_xorb_listing(sx, info.chunk_hashes if info else None, info.chunk_sizes if info else None)
        except UnknownXorbError:
            raise InvalidUploadError(f"shard rejected: it lists xorb {xorb_hex}, which was never uploaded") from None
        except ShardFormatError as exc:
            raise InvalidUploadError(f"shard rejected: {exc}") from None

    # --- files -----------------------------------------------------------------------------------

    def file(self, file_hex: str) -> FileReconstruction | None:
        rec = self._files.get(file_hex)
        if rec is not None:
            return rec
        row = self.catalog.reconstruction(file_hex)
        if row is None:
            return None
        rec = FileReconstruction(file_hex, row[0], _decode_terms(row[1]))
        self._files.put(file_hex, rec)
        return rec

    def file_size(self, file_hex: str) -> int | None:
        rec = self.file(file_hex)
        return None if rec is None else rec.size

    def plan(self, rec: FileReconstruction, start: int, end: int) -> Plan:
        """Terms and fetch ranges for bytes ``[start, end)`` of a file (``end`` clamped to its size)."""
        if start >= rec.size or start < 0:
            raise RangeNotSatisfiableError(rec.size)
        end = min(end, rec.size)
        terms: list[PlannedTerm] = []
        offset = 0
        pos = 0
        for t in rec.terms:
            t_end = pos + t.unpacked
            if t_end <= start:
                pos = t_end
                continue
            if pos >= end:
                break
            if pos >= start and t_end <= end:
                terms.append(PlannedTerm(t.xorb, t.start, t.end, t.unpacked))
            else:
                info = self._require_xorb(t.xorb)
                first = last = -1
                size = 0
                cpos = pos
                for i in range(t.start, t.end):
                    csize = info.chunks[i].size
                    if cpos + csize > start and cpos < end:
                        if first < 0:
                            first = i
                            if not terms:
                                offset = start - cpos
                        last = i
                        size += csize
                    cpos += csize
                    if cpos >= end:
                        break
                if first >= 0:
                    terms.append(PlannedTerm(t.xorb, first, last + 1, size))
            pos = t_end
        return Plan(rec.size, start, end, offset, terms, self._fetch_ranges(terms))

    def _require_xorb(self, xorb_hex: str) -> XorbInfo:
        info = self.xorb_info(xorb_hex)
        if info is None:  # the catalog guarantees it; a missing row means the data dir was tampered with
            raise RuntimeError(f"registered file references missing xorb {xorb_hex}")
        return info

    def _fetch_ranges(self, terms: Sequence[PlannedTerm]) -> dict[str, list[tuple[int, int, int, int]]]:
        spans: dict[str, list[tuple[int, int]]] = {}
        for t in terms:
            spans.setdefault(t.xorb, []).append((t.start, t.end))
        fetch: dict[str, list[tuple[int, int, int, int]]] = {}
        for xorb_hex, ranges in spans.items():
            merged: list[list[int]] = []
            for s, e in sorted(ranges):
                if merged and s <= merged[-1][1]:  # overlapping or adjacent: one descriptor
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            info = self._require_xorb(xorb_hex)
            out = []
            for s, e in merged:
                b0, b1 = info.byte_range(s, e)
                out.append((s, e, b0, b1 - 1))
            fetch[xorb_hex] = out
        return fetch

    def iter_bytes(self, plan: Plan) -> Iterator[bytes]:
        """The file bytes ``[plan.start, plan.end)``, decoded from the stored xorbs, in order."""
        skip = plan.offset_into_first_range
        remaining = plan.end - plan.start
        for t in plan.terms:
            if remaining <= 0:
                break
            info = self._require_xorb(t.xorb)
            with open(self.xorb_path(t.xorb), "rb") as f:
                i = t.start
                while i < t.end and remaining > 0:
                    # Batch chunks into windows so each pread is large and each decode loop long.
                    j = i + 1
                    base = info.chunks[i].compressed_start
                    while j < t.end and info.chunks[j].compressed_end - base <= _READ_WINDOW:
                        j += 1
                    stop = info.chunks[j - 1].compressed_end
                    raw = os.pread(f.fileno(), stop - base, base)
                    if len(raw) != stop - base:
                        raise RuntimeError(f"xorb {t.xorb} is shorter than its chunk table")
                    for data in iter_chunk_data(raw):
                        if skip:
                            if skip >= len(data):
                                skip -= len(data)
                                continue
                            data = data[skip:]
                            skip = 0
                        if len(data) > remaining:
                            data = data[:remaining]
                        remaining -= len(data)
                        yield data
                        if remaining <= 0:
                            return
                    i = j

    # --- global dedup ----------------------------------------------------------------------------

    def dedup_shard(self, chunk_hex: str) -> bytes | None:
        """A shard (with footer) listing the xorb that holds ``chunk_hex``, or None (§3.1, §7.4)."""
        xorb_hex = self.catalog.dedup_xorb(chunk_hex)
        if xorb_hex is None or not self.lease_xorb(xorb_hex):  # the client may reference it without uploading
            return None
        info = self.xorb_info(xorb_hex)
        if info is None:
            return None
        chunks = []
        offset = 0
        for c in info.chunks:
            chunks.append(ShardChunk(c.hash, offset, c.size))
            offset += c.size
        xorb = ShardXorb(info.hash, tuple(chunks), info.raw_size)
        # A fresh HMAC key per answer, like production: the client can only match chunks it holds.
        return build_shard(
            [], [xorb], with_footer=True, key_expiry=int(time.time()) + _DEDUP_SHARD_TTL, hmac_key=os.urandom(32)
        )


    # --- garbage collection ----------------------------------------------------------------------

    def collect_garbage(self, grace: float, *, progress: Callable[[str], None] | None = None) -> GcResult:
        """Remove file records, shard rows and xorbs that no bucket file references.

        Anything uploaded, announced or leased less than ``grace`` seconds ago stays: that is how
        uploads in progress (xorbs not yet in a shard, shards not yet in a batch) survive. The
        catalog rows go first, in one transaction; the xorb files after the commit. A crash at any
        point loses nothing still referenced; files left without a row are removed by the next run.
        """
        started = time.monotonic()
        say = progress or (lambda line: None)
        with self._gc_lock:
            say("collecting")
            report = self.catalog.collect_garbage(time.time() - grace, term_xorbs)
            say(f"committed: {report.files} files, {report.shards} shards, {len(report.xorbs)} xorbs to remove")
            for xorb_hex in report.xorbs:
                self._xorbs.pop(xorb_hex)
                self.xorb_path(xorb_hex).unlink(missing_ok=True)
                say(f"removed xorb {xorb_hex}")
            orphans = self._remove_orphan_files()
        self._files = _LRU(4096)  # collected reconstructions must not be served from the cache
        return GcResult(report.files, report.shards, len(report.xorbs), report.xorb_bytes, orphans,
                        round(time.monotonic() - started, 3))

    def _remove_orphan_files(self) -> int:
        """Xorb files without a catalog row: left by a crash after a GC commit or mid-publish."""
        known = self.catalog.xorb_hashes()
        removed = 0
        for sub in self.xorb_dir.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                if path.name not in known:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def remove_tree(path: Path) -> None:
    """Delete a directory tree; failures are logged, not raised (cleanup must not mask real errors)."""

    def log(func: Callable[..., object], target: str, exc_info: object) -> None:
        logger.warning("could not remove %s: %s", target, exc_info)

    if path.exists():
        shutil.rmtree(path, onerror=log)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:  # not supported on every platform
        logger.debug("cannot open %s to fsync it: %s", path, exc)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
