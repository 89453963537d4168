"""MDB shards: parse uploaded shards, check a file's terms, build shards (dedup answers, tests).

A shard (``xet-cas-protocol.md`` §7.3) is a 48-byte header, a file-info section and a CAS-info
section, each a run of 48-byte records closed by a bookend record, and — only in stored shards and
global-dedup answers — lookup tables and a 200-byte footer. Uploaded shards have no footer.

All 32-byte values (file, xorb and chunk hashes, verification hashes, the SHA-256) are kept in
wire order; render any of them with :func:`hashing.hash_to_hex` — for the SHA-256 that yields the
usual hex digest (§7.3.4).

Example::

    >>> from hf_bucket_sink.localhub.hashing import chunk_hash, file_hash, verification_hash
    >>> from hf_bucket_sink.localhub.shard import (
    ...     ShardChunk, ShardFile, ShardXorb, Term, build_shard, parse_shard, verify_file_terms)
    >>> h = chunk_hash(b"hello world")            # a one-chunk xorb's hash is its chunk hash
    >>> term = Term(h, 11, 0, 1, verification_hash([h]))
    >>> f = ShardFile(file_hash([(h, 11)]), (term,), None)
    >>> shard = parse_shard(build_shard([f], [ShardXorb(h, (ShardChunk(h, 0, 11),), 11)]))
    >>> shard.files[0] == f, shard.files[0].size
    (True, 11)
    >>> verify_file_terms(f, {h: [h]}.get, {h: [11]}.get)  # raises ShardFormatError if wrong
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import blake3

from .hashing import ZERO_HASH, file_hash, hash_to_hex, verification_hash
from .xorb import MAX_XORB_CHUNKS

__all__ = [
    "FILE_FLAG_METADATA_EXT",
    "FILE_FLAG_VERIFICATION",
    "SHARD_FOOTER_SIZE",
    "SHARD_HEADER_TAG",
    "Shard",
    "ShardChunk",
    "ShardFile",
    "ShardFormatError",
    "ShardXorb",
    "Term",
    "UnknownXorbError",
    "build_shard",
    "parse_shard",
    "verify_file_terms",
    "verify_xorb_listing",
]

SHARD_HEADER_TAG = b"HFRepoMetaData\x00" + bytes.fromhex("556967456a7b815783a5bdd95ccdd14aa9")
SHARD_VERSION = 2
SHARD_FOOTER_SIZE = 200
SHARD_FOOTER_VERSION = 1
FILE_FLAG_VERIFICATION = 0x8000_0000
FILE_FLAG_METADATA_EXT = 0x4000_0000
#: Chunk flag: the chunk is a global-dedup key (hf_xet sets it on eligible chunks).
CHUNK_FLAG_GLOBAL_DEDUP = 0x8000_0000

_RECORD = 48
_BOOKEND = b"\xff" * 32 + bytes(16)
_ALL_ONES = b"\xff" * 32
_ZERO16 = bytes(16)
_U32_MAX = 0xFFFF_FFFF

_HEADER = struct.Struct("<32sQQ")
_FILE_HEADER = struct.Struct("<32sII8s")  # file_hash, flags, num_entries, reserved
_TERM = struct.Struct("<32sIIII")  # xorb_hash, cas_flags, unpacked bytes, chunk start, chunk end
_HASH_RECORD = struct.Struct("<32s16s")  # verification entry / metadata ext: hash, reserved
_XORB_HEADER = struct.Struct("<32sIIII")  # xorb_hash, cas_flags, num_entries, in_cas, on_disk
_CHUNK = struct.Struct("<32sIIII")  # chunk_hash, start (uncompressed), size, flags, reserved
_FOOTER = struct.Struct("<9Q32sQQ48sQQQQ")
assert _FOOTER.size == SHARD_FOOTER_SIZE


class ShardFormatError(ValueError):
    """The bytes are not a valid shard, or a file's terms do not check out against the xorbs."""


class UnknownXorbError(ShardFormatError):
    """A term (or listing) refers to a xorb the server does not have."""

    def __init__(self, message: str, xorb_hash: bytes) -> None:
        super().__init__(message)
        self.xorb_hash = xorb_hash


@dataclass(frozen=True, slots=True)
class Term:
    """Chunks ``[chunk_start, chunk_end)`` of one xorb; ``verification`` is the §8.5 hash or None."""

    xorb_hash: bytes
    unpacked_bytes: int
    chunk_start: int
    chunk_end: int
    verification: bytes | None


@dataclass(frozen=True, slots=True)
class ShardFile:
    """A file's reconstruction: its hash, its terms in order, and its SHA-256 (wire order) if sent.

    An empty file has the all-zero hash and no terms; its SHA-256 field is all zeros (§7.3.3).
    """

    file_hash: bytes
    terms: tuple[Term, ...]
    sha256: bytes | None

    @property
    def size(self) -> int:
        return sum(t.unpacked_bytes for t in self.terms)

    @property
    def sha256_hex(self) -> str | None:
        """The standard hex SHA-256 digest (the §1.1 rendering of the stored bytes)."""
        return None if self.sha256 is None else hash_to_hex(self.sha256)


@dataclass(frozen=True, slots=True)
class ShardChunk:
    """A chunk listed for a xorb: ``start`` is its *uncompressed* offset inside the xorb.

    ``flags`` (extra field) round-trips the chunk flags; hf_xet sets
    :data:`CHUNK_FLAG_GLOBAL_DEDUP` on chunks eligible for global dedup.
    """

    hash: bytes
    start: int
    size: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class ShardXorb:
    """A xorb listed in the CAS-info section, with all its chunks.

    ``bytes_on_disk`` (extra field) is ``num_bytes_on_disk``; hf_xet sends 0.
    """

    hash: bytes
    chunks: tuple[ShardChunk, ...]
    bytes_in_cas: int
    bytes_on_disk: int = 0


@dataclass(frozen=True, slots=True)
class Shard:
    files: tuple[ShardFile, ...]
    xorbs: tuple[ShardXorb, ...]


# --------------------------------------------------------------------------------------------
# parsing


def _view(body: bytes | memoryview) -> memoryview:
    view = memoryview(body)
    if view.ndim != 1 or view.itemsize != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B")
    return view


class _Reader:
    """Cursor over the shard that turns every overrun into a ShardFormatError with the offset."""

    __slots__ = ("limit", "pos", "view")

    def __init__(self, view: memoryview, limit: int) -> None:
        self.view = view
        self.limit = limit
        self.pos = 0

    def need(self, records: int, what: str) -> None:
        if self.pos + records * _RECORD > self.limit:
            raise ShardFormatError(
                f"shard truncated at offset {self.pos}: {what} needs {records * _RECORD} bytes, "
                f"{self.limit - self.pos} left before the end of the sections"
            )

    def at_bookend(self) -> bool:
        self.need(1, "a record or the section bookend")
        return self.view[self.pos : self.pos + 32] == _ALL_ONES

    def bookend(self, section: str) -> None:
        if self.view[self.pos : self.pos + _RECORD] != _BOOKEND:
            raise ShardFormatError(
                f"{section} bookend at offset {self.pos} is malformed (32 x ff then 16 x 00 expected)"
            )
        self.pos += _RECORD


def _parse_files(r: _Reader) -> list[ShardFile]:
    files: list[ShardFile] = []
    view = r.view
    while not r.at_bookend():
        at = r.pos
        fhash, flags, count, reserved = _FILE_HEADER.unpack_from(view, at)
        where = f"file {len(files)} ({hash_to_hex(fhash)}) at offset {at}"
        if flags & ~(FILE_FLAG_VERIFICATION | FILE_FLAG_METADATA_EXT):
            raise ShardFormatError(f"{where}: unknown file flags {flags:#010x}")
        if reserved != bytes(8):
            raise ShardFormatError(f"{where}: reserved header bytes are not zero")
        has_verification = bool(flags & FILE_FLAG_VERIFICATION)
        has_metadata = bool(flags & FILE_FLAG_METADATA_EXT)
        records = count * (2 if has_verification else 1) + (1 if has_metadata else 0)
        r.pos += _RECORD
        r.need(records, f"{where} ({count} terms, flags {flags:#010x})")
        raw_terms = list(_TERM.iter_unpack(view[r.pos : r.pos + count * _RECORD]))
        r.pos += count * _RECORD
        verifications: list[bytes | None] = [None] * count
        if has_verification:
            for index, (vhash, pad) in enumerate(
                _HASH_RECORD.iter_unpack(view[r.pos : r.pos + count * _RECORD])
            ):
                if pad != _ZERO16:
                    raise ShardFormatError(
                        f"{where}: verification entry {index} has non-zero reserved bytes"
                    )
                if vhash == _ALL_ONES:
                    raise ShardFormatError(f"{where}: bookend where verification entry {index} belongs")
                verifications[index] = vhash
            r.pos += count * _RECORD
        sha256: bytes | None = None
        if has_metadata:
            sha256, pad = _HASH_RECORD.unpack_from(view, r.pos)
            if pad != _ZERO16:
                raise ShardFormatError(f"{where}: metadata extension has non-zero reserved bytes")
            if sha256 == _ALL_ONES:
                raise ShardFormatError(f"{where}: bookend where the metadata extension belongs")
            r.pos += _RECORD
        terms: list[Term] = []
        for index, (xhash, cas_flags, unpacked, start, end) in enumerate(raw_terms):
            if xhash == _ALL_ONES:
                raise ShardFormatError(f"{where}: bookend where term {index} belongs")
            if cas_flags != 0:
                raise ShardFormatError(
                    f"{where}: term {index} has cas_flags {cas_flags:#x} (0 expected)"
                )
            if start >= end:
                raise ShardFormatError(f"{where}: term {index} has empty chunk range [{start}, {end})")
            terms.append(Term(xhash, unpacked, start, end, verifications[index]))
        files.append(ShardFile(fhash, tuple(terms), sha256))
    r.bookend("file-info")
    return files


def _parse_xorbs(r: _Reader) -> list[ShardXorb]:
    xorbs: list[ShardXorb] = []
    view = r.view
    while not r.at_bookend():
        at = r.pos
        xhash, cas_flags, count, in_cas, on_disk = _XORB_HEADER.unpack_from(view, at)
        where = f"xorb {len(xorbs)} ({hash_to_hex(xhash)}) at offset {at}"
        if cas_flags != 0:
            raise ShardFormatError(f"{where}: cas_flags {cas_flags:#x} (0 expected)")
        if not 0 < count <= MAX_XORB_CHUNKS:
            raise ShardFormatError(f"{where}: {count} chunks (1..{MAX_XORB_CHUNKS} allowed)")
        r.pos += _RECORD
        r.need(count, f"{where} ({count} chunks)")
        chunks: list[ShardChunk] = []
        offset = 0
        for index, (chash, start, size, flags, reserved) in enumerate(
            _CHUNK.iter_unpack(view[r.pos : r.pos + count * _RECORD])
        ):
            if chash == _ALL_ONES:
                raise ShardFormatError(f"{where}: bookend where chunk {index} belongs")
            if reserved != 0:
                raise ShardFormatError(f"{where}: chunk {index} has non-zero reserved bytes")
            if start != offset:
                raise ShardFormatError(
                    f"{where}: chunk {index} starts at {start}, the sizes before it add up to {offset}"
                )
            chunks.append(ShardChunk(chash, start, size, flags))
            offset += size
        r.pos += count * _RECORD
        if in_cas != offset:
            raise ShardFormatError(
                f"{where}: num_bytes_in_cas is {in_cas}, its chunks add up to {offset}"
            )
        xorbs.append(ShardXorb(xhash, tuple(chunks), in_cas, on_disk))
    r.bookend("CAS-info")
    return xorbs


def _check_footer(view: memoryview, sections_end: int, xorb_info_offset: int) -> None:
    footer_at = len(view) - SHARD_FOOTER_SIZE
    (
        version,
        file_info_offset,
        xorb_offset,
        file_lookup_offset,
        file_lookup_count,
        xorb_lookup_offset,
        xorb_lookup_count,
        chunk_lookup_offset,
        chunk_lookup_count,
        _hmac_key,
        _created,
        _expiry,
        _reserved,
        _on_disk,
        _materialized,
        _stored,
        footer_offset,
    ) = _FOOTER.unpack_from(view, footer_at)
    where = f"footer at offset {footer_at}"
    if version != SHARD_FOOTER_VERSION:
        raise ShardFormatError(f"{where}: version {version} ({SHARD_FOOTER_VERSION} expected)")
    if file_info_offset != _RECORD:
        raise ShardFormatError(f"{where}: file_info_offset {file_info_offset} (48 expected)")
    if xorb_offset != xorb_info_offset:
        raise ShardFormatError(
            f"{where}: xorb_info_offset {xorb_offset}, "
            f"the CAS-info section starts at {xorb_info_offset}"
        )
    if footer_offset != footer_at:
        raise ShardFormatError(f"{where}: footer_offset field says {footer_offset}")
    # Lookup tables are optional and never read; only check that they tile the gap exactly.
    tables = (
        ("file", file_lookup_offset, file_lookup_count, 12),
        ("xorb", xorb_lookup_offset, xorb_lookup_count, 12),
        ("chunk", chunk_lookup_offset, chunk_lookup_count, 16),
    )
    used = 0
    for name, offset, count, width in tables:
        if count and not sections_end <= offset <= offset + count * width <= footer_at:
            raise ShardFormatError(f"{where}: {name} lookup table lies outside the lookup area")
        used += count * width
    if used != footer_at - sections_end:
        raise ShardFormatError(
            f"{where}: {footer_at - sections_end} bytes between the CAS-info section and the "
            f"footer, lookup tables account for {used}"
        )


def parse_shard(body: bytes | memoryview) -> Shard:
    """Parse a shard (§7.3): header, both sections to their bookends, then the exact end.

    ``footer_size`` 0 (uploads) requires the body to end at the CAS-info bookend; 200 requires
    lookup tables (ignored) and a consistent footer after it. Every defect raises
    :class:`ShardFormatError` naming the offset. Consistency with stored xorbs is checked
    separately (:func:`verify_file_terms`, :func:`verify_xorb_listing`).
    """
    view = _view(body)
    total = len(view)
    if total < _RECORD:
        raise ShardFormatError(f"shard of {total} bytes is shorter than its 48-byte header")
    tag, version, footer_size = _HEADER.unpack_from(view, 0)
    if tag != SHARD_HEADER_TAG:
        raise ShardFormatError("shard header tag is wrong (not an MDB shard)")
    if version != SHARD_VERSION:
        raise ShardFormatError(f"shard header version {version} ({SHARD_VERSION} expected)")
    if footer_size not in (0, SHARD_FOOTER_SIZE):
        raise ShardFormatError(f"shard footer_size {footer_size} (0 or {SHARD_FOOTER_SIZE} expected)")
    limit = total - footer_size
    if limit < _RECORD:
        raise ShardFormatError(f"shard of {total} bytes cannot hold a {footer_size}-byte footer")
    r = _Reader(view, limit)
    r.pos = _RECORD
    files = _parse_files(r)
    xorb_info_offset = r.pos
    xorbs = _parse_xorbs(r)
    if footer_size:
        _check_footer(view, r.pos, xorb_info_offset)
    elif r.pos != total:
        raise ShardFormatError(
            f"{total - r.pos} trailing bytes after the CAS-info bookend at offset {r.pos}"
        )
    return Shard(tuple(files), tuple(xorbs))


# --------------------------------------------------------------------------------------------
# building


def _check_hash(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(value)}")
    if value == _ALL_ONES:
        raise ValueError(f"{what} is all 0xff, which would read as a bookend")
    return bytes(value)


def _check_u32(value: int, what: str) -> int:
    if not 0 <= value <= _U32_MAX:
        raise ValueError(f"{what} = {value} does not fit in a u32")
    return value


def build_shard(
    files: Sequence[ShardFile],
    xorbs: Sequence[ShardXorb],
    *,
    with_footer: bool = False,
    key_expiry: int = 0,
    created_at: int | None = None,
    hmac_key: bytes | None = None,
) -> bytes:
    """Serialize a shard; ``parse_shard(build_shard(f, x)) == Shard(tuple(f), tuple(x))``.

    Without a footer this is the upload form, byte-identical to what hf_xet sends for the same
    content. ``with_footer=True`` adds the 200-byte footer (§7.3.6, no lookup tables) as used for
    global-dedup answers (§7.4): ``created_at`` defaults to now, ``key_expiry`` is a unix time
    the client checks, and a non-zero ``hmac_key`` (extra) replaces every listed chunk hash with
    ``BLAKE3-keyed(hmac_key, hash)`` and is announced in the footer.

    A file's terms must all carry a verification hash or none; a file without terms is written
    with the verification flag set (as hf_xet does for empty files).
    """
    if hmac_key is not None and len(hmac_key) != 32:
        raise ValueError("hmac_key must be 32 bytes")
    keyed = hmac_key is not None and hmac_key != ZERO_HASH
    if keyed and not with_footer:
        raise ValueError("a keyed (hmac) shard needs the footer that announces the key")
    out: list[bytes] = [
        _HEADER.pack(SHARD_HEADER_TAG, SHARD_VERSION, SHARD_FOOTER_SIZE if with_footer else 0)
    ]
    materialized = 0
    for fi, f in enumerate(files):
        where = f"file {fi}"
        fhash = _check_hash(f.file_hash, f"{where} hash")
        verified = [t.verification is not None for t in f.terms]
        if any(verified) and not all(verified):
            raise ValueError(f"{where}: some terms have a verification hash and some do not")
        flags = FILE_FLAG_VERIFICATION if all(verified) else 0
        if f.sha256 is not None:
            flags |= FILE_FLAG_METADATA_EXT
        out.append(_FILE_HEADER.pack(fhash, flags, _check_u32(len(f.terms), where), bytes(8)))
        for ti, t in enumerate(f.terms):
            if not 0 <= t.chunk_start < t.chunk_end <= _U32_MAX:
                raise ValueError(f"{where} term {ti}: bad chunk range [{t.chunk_start}, {t.chunk_end})")
            out.append(
                _TERM.pack(
                    _check_hash(t.xorb_hash, f"{where} term {ti} xorb hash"),
                    0,
                    _check_u32(t.unpacked_bytes, f"{where} term {ti} unpacked_bytes"),
                    t.chunk_start,
                    t.chunk_end,
                )
            )
            materialized += t.unpacked_bytes
        if flags & FILE_FLAG_VERIFICATION:
            for ti, t in enumerate(f.terms):
                assert t.verification is not None
                vhash = _check_hash(t.verification, f"{where} term {ti} verification")
                out.append(_HASH_RECORD.pack(vhash, _ZERO16))
        if f.sha256 is not None:
            out.append(_HASH_RECORD.pack(_check_hash(f.sha256, f"{where} sha256"), _ZERO16))
    out.append(_BOOKEND)
    xorb_info_offset = sum(len(part) for part in out)
    stored = 0
    on_disk = 0
    for xi, x in enumerate(xorbs):
        where = f"xorb {xi}"
        if not 0 < len(x.chunks) <= MAX_XORB_CHUNKS:
            raise ValueError(f"{where}: {len(x.chunks)} chunks (1..{MAX_XORB_CHUNKS} allowed)")
        total = sum(c.size for c in x.chunks)
        if total != x.bytes_in_cas:
            raise ValueError(f"{where}: bytes_in_cas {x.bytes_in_cas} != sum of chunk sizes {total}")
        out.append(
            _XORB_HEADER.pack(
                _check_hash(x.hash, f"{where} hash"),
                0,
                len(x.chunks),
                _check_u32(x.bytes_in_cas, f"{where} bytes_in_cas"),
                _check_u32(x.bytes_on_disk, f"{where} bytes_on_disk"),
            )
        )
        offset = 0
        for ci, c in enumerate(x.chunks):
            if c.start != offset:
                raise ValueError(f"{where} chunk {ci}: start {c.start}, expected {offset}")
            chash = _check_hash(c.hash, f"{where} chunk {ci} hash")
            if keyed:
                chash = blake3.blake3(chash, key=hmac_key).digest()
            out.append(
                _CHUNK.pack(
                    chash,
                    c.start,
                    _check_u32(c.size, f"{where} chunk {ci} size"),
                    _check_u32(c.flags, f"{where} chunk {ci} flags"),
                    0,
                )
            )
            offset += c.size
        stored += x.bytes_in_cas
        on_disk += x.bytes_on_disk
    out.append(_BOOKEND)
    if with_footer:
        footer_at = sum(len(part) for part in out)
        out.append(
            _FOOTER.pack(
                SHARD_FOOTER_VERSION,
                _RECORD,
                xorb_info_offset,
                footer_at,  # lookup tables absent: offset = footer offset, count 0
                0,
                footer_at,
                0,
                footer_at,
                0,
                hmac_key if keyed else ZERO_HASH,
                int(time.time()) if created_at is None else created_at,
                key_expiry,
                bytes(48),
                on_disk,
                materialized,
                stored,
                footer_at,
            )
        )
    return b"".join(out)


# --------------------------------------------------------------------------------------------
# verification against stored xorbs (§12)


def verify_file_terms(
    file: ShardFile,
    chunk_hashes_of: Callable[[bytes], Sequence[bytes] | None],
    chunk_sizes_of: Callable[[bytes], Sequence[int] | None],
) -> None:
    """Check one file of a shard against the xorbs the server holds (§12.3–12.4).

    ``chunk_hashes_of(xorb_hash)`` / ``chunk_sizes_of(xorb_hash)`` return that xorb's chunk hashes
    / uncompressed sizes in order, or None if the xorb is unknown (each is called at most once per
    distinct xorb). Checks: every xorb known (else :class:`UnknownXorbError`), ``0 <= start < end
    <= chunk count``, ``unpacked_bytes`` = sum of the chunk sizes, the verification hash when
    present, and the file hash over all term chunks (an empty file: zero hash, no terms).
    """
    label = f"file {hash_to_hex(file.file_hash)}"
    if not file.terms:
        if file.file_hash != ZERO_HASH:
            raise ShardFormatError(f"{label} has no terms but is not the empty-file hash (zeros)")
        return
    known: dict[bytes, tuple[Sequence[bytes], Sequence[int]]] = {}
    leaves: list[tuple[bytes, int]] = []
    for index, term in enumerate(file.terms):
        where = f"{label}, term {index} (xorb {hash_to_hex(term.xorb_hash)})"
        tables = known.get(term.xorb_hash)
        if tables is None:
            hashes = chunk_hashes_of(term.xorb_hash)
            sizes = chunk_sizes_of(term.xorb_hash) if hashes is not None else None
            if hashes is None or sizes is None:
                raise UnknownXorbError(f"{where}: xorb is not stored", term.xorb_hash)
            if len(hashes) != len(sizes):
                raise ShardFormatError(
                    f"{where}: lookup gave {len(hashes)} chunk hashes but {len(sizes)} sizes"
                )
            tables = known[term.xorb_hash] = (hashes, sizes)
        hashes, sizes = tables
        start, end = term.chunk_start, term.chunk_end
        if not 0 <= start < end <= len(hashes):
            raise ShardFormatError(
                f"{where}: chunk range [{start}, {end}) outside the xorb's {len(hashes)} chunks"
            )
        term_hashes = hashes[start:end]
        term_sizes = sizes[start:end]
        total = sum(term_sizes)
        if term.unpacked_bytes != total:
            raise ShardFormatError(
                f"{where}: unpacked_bytes {term.unpacked_bytes}, the chunks hold {total} bytes"
            )
        if term.verification is not None and verification_hash(term_hashes) != term.verification:
            raise ShardFormatError(f"{where}: verification hash does not match the chunk hashes")
        leaves.extend(zip(term_hashes, term_sizes))
    computed = file_hash(leaves)
    if computed != file.file_hash:
        raise ShardFormatError(
            f"{label}: its terms' chunks hash to {hash_to_hex(computed)} (spliced or reordered terms?)"
        )


def verify_xorb_listing(
    xorb: ShardXorb, chunk_hashes: Sequence[bytes] | None, chunk_sizes: Sequence[int] | None
) -> None:
    """Check a CAS-info entry against the stored xorb's chunk table (§12.2); None = not stored."""
    where = f"xorb {hash_to_hex(xorb.hash)} in the CAS-info section"
    if chunk_hashes is None or chunk_sizes is None:
        raise UnknownXorbError(f"{where}: xorb is not stored", xorb.hash)
    if len(xorb.chunks) != len(chunk_hashes) or len(chunk_sizes) != len(chunk_hashes):
        raise ShardFormatError(
            f"{where}: lists {len(xorb.chunks)} chunks, the stored xorb has {len(chunk_hashes)}"
        )
    for index, (c, h, size) in enumerate(zip(xorb.chunks, chunk_hashes, chunk_sizes)):
        if c.hash != h or c.size != size:
            raise ShardFormatError(f"{where}: chunk {index} differs from the stored xorb")
    if xorb.bytes_in_cas != sum(chunk_sizes):
        raise ShardFormatError(f"{where}: num_bytes_in_cas {xorb.bytes_in_cas} is wrong")
