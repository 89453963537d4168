"""Serialized xorbs: parse and verify an uploaded body, decode chunk data, build xorbs for tests.

A serialized xorb (``xet-cas-protocol.md`` §7.2) is a run of chunks, each an 8-byte header
(version 0, payload length u24, compression scheme, uncompressed length u24) followed by its
payload; xet-core's on-disk copy may carry an info footer (§7.2.3) after the last chunk.

:func:`parse_xorb` is the server's upload check (§12): it walks every header to the exact end,
decompresses every chunk, recomputes the chunk hashes and the xorb hash, and returns the chunk table
(:class:`XorbInfo`) that reconstruction answers need (compressed byte ranges, §5.4).
:func:`encode_chunk_table` / :func:`decode_chunk_table` store that table compactly (e.g. in SQLite),
and :func:`iter_chunk_data` turns a stored byte range back into file bytes.

Example::

    >>> from hf_bucket_sink.localhub.xorb import parse_xorb, serialize_xorb, iter_chunk_data
    >>> body = serialize_xorb([b"hello ", b"world"], scheme=1)
    >>> info = parse_xorb(body)
    >>> info.num_chunks, info.raw_size, info.serialized_size == len(body)
    (2, 11, True)
    >>> b"".join(iter_chunk_data(body[info.chunks[1].compressed_start : info.chunks[1].compressed_end]))
    b'world'
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import blake3
import lz4.frame

from .hashing import DATA_KEY, hash_to_hex, merkle_root

__all__ = [
    "CHUNK_HEADER_SIZE",
    "MAX_CHUNK_PAYLOAD",
    "MAX_CHUNK_SIZE",
    "MAX_SERIALIZED_XORB_BYTES",
    "MAX_XORB_CHUNKS",
    "MAX_XORB_FOOTER_BYTES",
    "MAX_XORB_RAW_BYTES",
    "SCHEME_BG4_LZ4",
    "SCHEME_LZ4",
    "SCHEME_NONE",
    "ChunkInfo",
    "XorbFormatError",
    "XorbInfo",
    "decode_chunk_table",
    "decompress_chunk",
    "encode_chunk_table",
    "iter_chunk_data",
    "parse_xorb",
    "serialize_xorb",
]

SCHEME_NONE = 0
SCHEME_LZ4 = 1  # payload is one LZ4 *frame*
SCHEME_BG4_LZ4 = 2  # LZ4 frame of the data split into 4 byte-interleaved streams

CHUNK_HEADER_SIZE = 8
#: Largest uncompressed chunk the chunker produces (§7.1).
MAX_CHUNK_SIZE = 128 * 1024
#: Largest payload xet-core's reader accepts (§7.2.1); compression never legitimately grows this far.
MAX_CHUNK_PAYLOAD = 2 * MAX_CHUNK_SIZE
MAX_XORB_CHUNKS = 8192
#: Raw (uncompressed) bytes a xorb may hold (§7.1).
MAX_XORB_RAW_BYTES = 64 * 1024 * 1024

# §7.2.3 version-1 footer: 96 fixed bytes plus, per chunk, a hash (32), a compressed end (4) and an
# uncompressed end (4).
_FOOTER_FIXED = 8 + 32 + 12 + 12 + 12 + 16 + 4
_FOOTER_PER_CHUNK = 32 + 4 + 4
#: Size of the largest footer :func:`parse_xorb` accepts (one for 8192 chunks).
MAX_XORB_FOOTER_BYTES = _FOOTER_FIXED + _FOOTER_PER_CHUNK * MAX_XORB_CHUNKS
#: Cap for an upload body: 64 MiB of chunk data, an 8-byte header per chunk (a real xorb is larger
#: than 64 MiB on the wire, §3.5), and room for the optional footer.
MAX_SERIALIZED_XORB_BYTES = (
    MAX_XORB_RAW_BYTES + CHUNK_HEADER_SIZE * MAX_XORB_CHUNKS + MAX_XORB_FOOTER_BYTES
)

_FOOTER_IDENT = b"XETBLOB"
_HASHES_IDENT = b"XBLBHSH"
_BOUNDS_IDENT = b"XBLBBND"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"

# The header is read as two u32 words: (version | payload_len << 8, scheme | size << 8).
_HEADER = struct.Struct("<II")
_U32 = struct.Struct("<I")
_TABLE_MAGIC = b"XCT1"
_TABLE_HEAD = struct.Struct("<4sI")
_TABLE_ROW = struct.Struct("<32sII")  # chunk hash, compressed_end, uncompressed size

# Chunks are decoded on the calling thread. Fanning them out to a thread pool was measured slower
# (LZ4 and BLAKE3 release the GIL for ~10-50 us per chunk, and the GIL hand-offs between workers
# cost more than they save); a server gets its parallelism from concurrent uploads instead.


class XorbFormatError(ValueError):
    """The bytes are not a valid serialized xorb (or do not hash to what they claim)."""


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One chunk of a stored xorb.

    ``compressed_start`` is the offset of the chunk's 8-byte header in the serialized xorb,
    ``compressed_end`` the offset just after its payload (so ``body[start:end]`` is exactly what a
    data-URL fetch returns for this chunk), ``size`` the uncompressed length.
    """

    hash: bytes
    compressed_start: int
    compressed_end: int
    size: int


@dataclass(frozen=True, slots=True)
class XorbInfo:
    """The verified chunk table of a xorb (§7.2.2), in xorb order."""

    hash: bytes
    chunks: tuple[ChunkInfo, ...]

    @property
    def num_chunks(self) -> int:
        return len(self.chunks)

    @property
    def raw_size(self) -> int:
        """Sum of the uncompressed chunk sizes (the shard's ``num_bytes_in_cas``)."""
        return sum(c.size for c in self.chunks)

    @property
    def serialized_size(self) -> int:
        """Length of the chunk data (headers included, any footer excluded)."""
        return self.chunks[-1].compressed_end if self.chunks else 0

    @property
    def chunk_hashes(self) -> tuple[bytes, ...]:
        """Chunk hashes in order — the lookup :func:`shard.verify_file_terms` wants."""
        return tuple(c.hash for c in self.chunks)

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        """Uncompressed chunk sizes in order."""
        return tuple(c.size for c in self.chunks)

    def byte_range(self, chunk_start: int, chunk_end: int) -> tuple[int, int]:
        """Half-open serialized byte range ``[start, end)`` of chunks ``[chunk_start, chunk_end)``.

        A reconstruction descriptor's ``bytes`` is ``{"start": start, "end": end - 1}`` (§5.4).
        """
        if not 0 <= chunk_start < chunk_end <= len(self.chunks):
            raise IndexError(
                f"chunk range [{chunk_start}, {chunk_end}) outside xorb of {len(self.chunks)} chunks"
            )
        return self.chunks[chunk_start].compressed_start, self.chunks[chunk_end - 1].compressed_end


# --------------------------------------------------------------------------------------------
# chunk decoding


def _bg4_group(data: bytes | memoryview) -> bytes:
    """Split data into the 4 byte-interleaved streams of scheme 2 and concatenate them."""
    view = bytes(data)
    return b"".join(view[k::4] for k in range(4))


def _bg4_ungroup(grouped: bytes | memoryview, size: int) -> bytearray:
    """Undo :func:`_bg4_group`: stream *k* holds bytes ``k, k+4, …`` (§7.2.1)."""
    src = memoryview(grouped)
    out = bytearray(size)
    quarter, extra = divmod(size, 4)
    pos = 0
    for k in range(4):
        length = quarter + (1 if k < extra else 0)
        # Extended-slice assignment is a tight C loop; ~1 GB/s, no per-byte Python.
        out[k::4] = src[pos : pos + length]
        pos += length
    return out


def _lz4_frame_decode(payload: memoryview, size: int, where: str) -> bytes:
    if len(payload) < 7 or payload[:4] != _LZ4_MAGIC:
        raise XorbFormatError(f"{where}: payload is not an LZ4 frame (magic 04 22 4d 18 missing)")
    flags = payload[4]
    if flags & 0x08:
        # The frame declares its content size: refuse a lie before the decoder allocates for it.
        if len(payload) < 14:
            raise XorbFormatError(f"{where}: LZ4 frame header truncated")
        declared = int.from_bytes(payload[6:14], "little")
        if declared != size:
            raise XorbFormatError(
                f"{where}: LZ4 frame declares {declared} bytes, chunk header says {size}"
            )
    # decompress_chunk with a fresh context and an output cap is ~10x faster than
    # lz4.frame.decompress on frames without a content size (which grows its buffer step by
    # step), and the cap stops a decompression bomb at size + 1 bytes.
    try:
        data, used, finished = lz4.frame.decompress_chunk(
            lz4.frame.create_decompression_context(), payload, max_length=size + 1
        )
    except (RuntimeError, ValueError, MemoryError, OverflowError) as exc:
        raise XorbFormatError(f"{where}: LZ4 frame does not decode ({exc})") from None
    if len(data) > size:
        raise XorbFormatError(f"{where}: decompresses to more than the {size} bytes announced")
    if not finished:
        raise XorbFormatError(f"{where}: LZ4 frame is truncated (no end mark)")
    if used != len(payload):
        raise XorbFormatError(
            f"{where}: {len(payload) - used} trailing bytes after the LZ4 frame inside the payload"
        )
    if len(data) != size:
        raise XorbFormatError(
            f"{where}: decompresses to {len(data)} bytes, chunk header says {size}"
        )
    return data


def _decode(
    scheme: int, payload: memoryview, size: int, where: str
) -> bytes | bytearray | memoryview:
    """Decode one payload whose header fields were already range-checked (no copy for scheme 0)."""
    if scheme == SCHEME_NONE:
        if len(payload) != size:
            raise XorbFormatError(
                f"{where}: uncompressed chunk has a {len(payload)}-byte payload but size {size}"
            )
        return payload
    data = _lz4_frame_decode(payload, size, where)
    if scheme == SCHEME_BG4_LZ4:
        return _bg4_ungroup(data, size)
    return data


def _check_fields(scheme: int, payload_len: int, size: int, where: str) -> None:
    if scheme not in (SCHEME_NONE, SCHEME_LZ4, SCHEME_BG4_LZ4):
        raise XorbFormatError(f"{where}: unknown compression scheme {scheme} (0, 1 or 2 expected)")
    if size <= 0:
        raise XorbFormatError(f"{where}: uncompressed length is {size} (chunks are never empty)")
    if size > MAX_CHUNK_SIZE:
        raise XorbFormatError(
            f"{where}: uncompressed length {size} exceeds the {MAX_CHUNK_SIZE}-byte chunk limit"
        )
    if payload_len > MAX_CHUNK_PAYLOAD:
        raise XorbFormatError(
            f"{where}: payload length {payload_len} exceeds the {MAX_CHUNK_PAYLOAD}-byte limit"
        )


def decompress_chunk(scheme: int, payload: bytes | memoryview, size: int) -> bytes:
    """Decode one chunk payload of the given scheme; it must yield exactly ``size`` bytes."""
    view = _as_bytes_view(payload)
    where = f"chunk (scheme {scheme})"
    _check_fields(scheme, len(view), size, where)
    return bytes(_decode(scheme, view, size, where))


def _as_bytes_view(body: bytes | memoryview) -> memoryview:
    view = memoryview(body)
    if view.ndim != 1 or view.itemsize != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B")
    return view


# --------------------------------------------------------------------------------------------
# parsing


# One walked chunk: (header offset, payload length, scheme, uncompressed size).
_Entry = tuple[int, int, int, int]


def _walk(view: memoryview, *, allow_footer: bool) -> tuple[list[_Entry], int]:
    """Walk the chunk headers; return the entries and where the chunk data ends.

    Stops at the end of the buffer or, if ``allow_footer``, at a ``XETBLOB`` footer ident (a chunk
    header starts with version byte 0, so the two cannot be confused).
    """
    total = len(view)
    entries: list[_Entry] = []
    unpack = _HEADER.unpack_from
    raw = 0
    off = 0
    while off < total:
        index = len(entries)
        if view[off] != 0 and allow_footer and entries and view[off : off + 7] == _FOOTER_IDENT:
            break
        where = f"chunk {index} at offset {off}"
        if total - off < CHUNK_HEADER_SIZE:
            raise XorbFormatError(
                f"{where}: truncated header ({total - off} bytes left, {CHUNK_HEADER_SIZE} needed)"
            )
        word0, word1 = unpack(view, off)
        version = word0 & 0xFF
        if version != 0:
            raise XorbFormatError(f"{where}: header version {version} (only 0 is defined)")
        payload_len = word0 >> 8
        scheme = word1 & 0xFF
        size = word1 >> 8
        _check_fields(scheme, payload_len, size, where)
        end = off + CHUNK_HEADER_SIZE + payload_len
        if end > total:
            raise XorbFormatError(
                f"{where}: payload of {payload_len} bytes runs past the end of the body "
                f"({total - off - CHUNK_HEADER_SIZE} bytes left)"
            )
        if index >= MAX_XORB_CHUNKS:
            raise XorbFormatError(f"{where}: more than {MAX_XORB_CHUNKS} chunks in one xorb")
        raw += size
        if raw > MAX_XORB_RAW_BYTES:
            raise XorbFormatError(
                f"{where}: raw chunk data exceeds the {MAX_XORB_RAW_BYTES}-byte xorb limit"
            )
        entries.append((off, payload_len, scheme, size))
        off = end
    return entries, off


def _hash_range(view: memoryview, entries: Sequence[_Entry], lo: int, hi: int) -> list[bytes]:
    hashes: list[bytes] = []
    append = hashes.append
    hasher = blake3.blake3
    key = DATA_KEY
    for index in range(lo, hi):
        off, payload_len, scheme, size = entries[index]
        start = off + CHUNK_HEADER_SIZE
        payload = view[start : start + payload_len]
        if scheme == SCHEME_NONE:
            if payload_len != size:
                raise XorbFormatError(
                    f"chunk {index} at offset {off}: uncompressed chunk has a "
                    f"{payload_len}-byte payload but size {size}"
                )
            append(hasher(payload, key=key).digest())
        else:
            data = _decode(scheme, payload, size, f"chunk {index} at offset {off}")
            append(hasher(data, key=key).digest())
    return hashes


def _check_footer(view: memoryview, at: int, chunks: Sequence[ChunkInfo], computed: bytes) -> None:
    """Validate a version-1 xet-core info footer (§7.2.3) against the parsed chunks."""
    n = len(chunks)
    length = len(view) - at
    expected = _FOOTER_FIXED + _FOOTER_PER_CHUNK * n
    where = f"footer at offset {at}"
    if length != expected:
        raise XorbFormatError(
            f"{where}: {length} bytes, a version-1 footer for {n} chunks is {expected} bytes"
        )
    version = view[at + 7]
    if version != 1:
        raise XorbFormatError(f"{where}: footer version {version} (only 1 is accepted)")
    if view[at + 8 : at + 40] != computed:
        raise XorbFormatError(
            f"{where}: footer names xorb {hash_to_hex(bytes(view[at + 8 : at + 40]))}, "
            f"chunks hash to {hash_to_hex(computed)}"
        )
    pos = at + 40

    def section(ident: bytes, version: int) -> None:
        nonlocal pos
        if view[pos : pos + 7] != ident:
            raise XorbFormatError(f"{where}: section ident {ident.decode()} missing at {pos}")
        if view[pos + 7] != version:
            raise XorbFormatError(f"{where}: {ident.decode()} version {view[pos + 7]} != {version}")
        (count,) = _U32.unpack_from(view, pos + 8)
        if count != n:
            raise XorbFormatError(f"{where}: {ident.decode()} counts {count} chunks, body has {n}")
        pos += 12

    section(_HASHES_IDENT, 0)
    if view[pos : pos + 32 * n] != b"".join(c.hash for c in chunks):
        raise XorbFormatError(f"{where}: chunk hashes differ from the chunk data")
    pos += 32 * n
    section(_BOUNDS_IDENT, 1)
    ends = struct.pack(f"<{n}I", *(c.compressed_end for c in chunks))
    if view[pos : pos + 4 * n] != ends:
        raise XorbFormatError(f"{where}: chunk boundary offsets differ from the chunk headers")
    pos += 4 * n
    running = 0
    unpacked = []
    for c in chunks:
        running += c.size
        unpacked.append(running)
    if view[pos : pos + 4 * n] != struct.pack(f"<{n}I", *unpacked):
        raise XorbFormatError(f"{where}: unpacked chunk offsets differ from the chunk sizes")
    pos += 4 * n
    count, hashes_from_end, bounds_from_end = struct.unpack_from("<III", view, pos)
    if (count, hashes_from_end, bounds_from_end) != (n, 52 + 40 * n, 40 + 8 * n):
        raise XorbFormatError(
            f"{where}: trailer (chunks {count}, hashes offset {hashes_from_end}, "
            f"boundaries offset {bounds_from_end}) disagrees with the layout"
        )
    pos += 12 + 16  # the 16-byte buffer holds a nonce; its content is free
    (info_length,) = _U32.unpack_from(view, pos)
    if info_length != expected - 4:
        raise XorbFormatError(f"{where}: info_length {info_length} != {expected - 4}")


def parse_xorb(body: bytes | memoryview, expected_hash: bytes | None = None) -> XorbInfo:
    """Verify a serialized xorb and return its chunk table (§7.2, §12).

    Walks every header to the exact end of ``body`` (a well-formed xet-core footer after the last
    chunk is tolerated and cross-checked), checks version 0, scheme 0/1/2 and the size limits,
    decompresses every chunk to exactly its announced length, and recomputes the chunk hashes and
    the xorb hash. If ``expected_hash`` (32 raw bytes, e.g. ``hex_to_hash(url_part)``) is given
    and differs, raises :class:`XorbFormatError`, as it does for every other defect.
    """
    view = _as_bytes_view(body)
    total = len(view)
    if total == 0:
        raise XorbFormatError("empty xorb body")
    if total > MAX_SERIALIZED_XORB_BYTES:
        raise XorbFormatError(
            f"xorb body of {total} bytes exceeds the {MAX_SERIALIZED_XORB_BYTES}-byte limit"
        )
    if expected_hash is not None and len(expected_hash) != 32:
        raise ValueError(f"expected_hash must be 32 raw bytes, got {len(expected_hash)}")
    entries, data_end = _walk(view, allow_footer=True)
    if not entries:
        raise XorbFormatError("xorb has no chunks")
    hashes = _hash_range(view, entries, 0, len(entries))
    chunks = tuple(
        ChunkInfo(h, off, off + CHUNK_HEADER_SIZE + payload_len, size)
        for h, (off, payload_len, _, size) in zip(hashes, entries)
    )
    computed = merkle_root([(h, e[3]) for h, e in zip(hashes, entries)])
    if data_end != total:
        _check_footer(view, data_end, chunks, computed)
    if expected_hash is not None and computed != expected_hash:
        raise XorbFormatError(
            f"xorb hash mismatch: the body hashes to {hash_to_hex(computed)}, "
            f"expected {hash_to_hex(expected_hash)}"
        )
    return XorbInfo(computed, chunks)


def iter_chunk_data(serialized: bytes | memoryview) -> Iterator[bytes]:
    """Decode consecutive serialized chunks into their raw data, in order.

    ``serialized`` must start at a chunk header and end exactly at a chunk end — e.g.
    ``xorb[info.chunks[i].compressed_start : info.chunks[j - 1].compressed_end]``. No footer.
    Raises :class:`XorbFormatError` on malformed data (possibly after yielding earlier chunks).
    """
    view = _as_bytes_view(serialized)
    entries, _ = _walk(view, allow_footer=False)
    for index, (off, payload_len, scheme, size) in enumerate(entries):
        start = off + CHUNK_HEADER_SIZE
        data = _decode(
            scheme, view[start : start + payload_len], size, f"chunk {index} at offset {off}"
        )
        yield data if type(data) is bytes else bytes(data)


# --------------------------------------------------------------------------------------------
# building


def _compress_frame(data: bytes | memoryview) -> bytes:
    # Same frame shape as hf_xet: independent 64 KiB blocks, no content size, no checksums.
    return lz4.frame.compress(
        data,
        block_size=lz4.frame.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )


def serialize_xorb(chunks: Sequence[bytes], scheme: int = 0) -> bytes:
    """Build a serialized xorb (no footer) from raw chunk data, every chunk in ``scheme``.

    The scheme is applied even when it does not shrink a chunk (unlike hf_xet, which then falls
    back to 0), so tests can exercise every decoder on any data.
    """
    if scheme not in (SCHEME_NONE, SCHEME_LZ4, SCHEME_BG4_LZ4):
        raise ValueError(f"unknown compression scheme {scheme}")
    if not chunks:
        raise ValueError("a xorb needs at least one chunk")
    if len(chunks) > MAX_XORB_CHUNKS:
        raise ValueError(f"{len(chunks)} chunks exceed the {MAX_XORB_CHUNKS}-chunk limit")
    parts: list[bytes] = []
    raw = 0
    for index, chunk in enumerate(chunks):
        size = len(chunk)
        if not 0 < size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk {index}: size {size} outside 1..{MAX_CHUNK_SIZE}")
        raw += size
        if scheme == SCHEME_NONE:
            payload = bytes(chunk)
        elif scheme == SCHEME_LZ4:
            payload = _compress_frame(chunk)
        else:
            payload = _compress_frame(_bg4_group(chunk))
        if len(payload) > MAX_CHUNK_PAYLOAD:
            raise ValueError(f"chunk {index}: payload of {len(payload)} bytes is too large")
        parts.append(_HEADER.pack(len(payload) << 8, scheme | size << 8))
        parts.append(payload)
    if raw > MAX_XORB_RAW_BYTES:
        raise ValueError(f"{raw} raw bytes exceed the {MAX_XORB_RAW_BYTES}-byte xorb limit")
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# compact chunk table (for the server's database)


def encode_chunk_table(info: XorbInfo) -> bytes:
    """Pack the chunk table as ``b"XCT1" | u32 n | n × (hash 32, compressed_end u32, size u32)``.

    Chunks are contiguous from offset 0, so each ``compressed_start`` is the previous end.
    40 bytes per chunk: at most ~320 KiB for a full xorb.
    """
    parts = [_TABLE_HEAD.pack(_TABLE_MAGIC, len(info.chunks))]
    expected_start = 0
    for c in info.chunks:
        if c.compressed_start != expected_start:
            raise ValueError("chunk table is not contiguous from offset 0")
        parts.append(_TABLE_ROW.pack(c.hash, c.compressed_end, c.size))
        expected_start = c.compressed_end
    return b"".join(parts)


def decode_chunk_table(xorb_hash: bytes, blob: bytes) -> XorbInfo:
    """Inverse of :func:`encode_chunk_table` (structure is checked; hashes are trusted)."""
    if len(blob) < _TABLE_HEAD.size:
        raise XorbFormatError("chunk table blob too short")
    magic, count = _TABLE_HEAD.unpack_from(blob, 0)
    if magic != _TABLE_MAGIC:
        raise XorbFormatError(f"chunk table blob has magic {magic!r}, expected {_TABLE_MAGIC!r}")
    if len(blob) != _TABLE_HEAD.size + _TABLE_ROW.size * count:
        raise XorbFormatError(f"chunk table blob of {len(blob)} bytes does not hold {count} rows")
    chunks: list[ChunkInfo] = []
    start = 0
    for h, end, size in _TABLE_ROW.iter_unpack(memoryview(blob)[_TABLE_HEAD.size :]):
        if end < start + CHUNK_HEADER_SIZE:
            raise XorbFormatError(f"chunk table row {len(chunks)}: end {end} before start {start}")
        chunks.append(ChunkInfo(h, start, end, size))
        start = end
    return XorbInfo(bytes(xorb_hash), tuple(chunks))
