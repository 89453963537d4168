"""Row counts of written files, taken from the bytes that pass through a writer (no second read).

>>> counter = RowCounter("parquet")
>>> counter.observe(parquet_bytes)      # every block the writer sends, in order
>>> counter.rows()                      # FileMetaData.num_rows from the footer, or None

Polars gives no per-file row counts when it writes into file objects (its
``sinked_paths_callback`` refuses non-path targets), so we read them where the format makes it
cheap: Parquet stores ``num_rows`` in its footer, NDJSON has one row per line. CSV may quote
newlines and Arrow IPC keeps counts inside each record batch, so those stay ``None``.
"""

from __future__ import annotations

import struct

__all__ = ["RowCounter", "parquet_num_rows"]

_MAGIC = b"PAR1"


class _Compact:
    """Just enough of Thrift's compact protocol to walk to ``FileMetaData.num_rows``."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, ttype: int) -> None:
        if ttype in (1, 2):  # bool inside a struct: the value is in the type nibble
            return
        if ttype == 3:
            self.pos += 1
        elif ttype in (4, 5, 6):
            self.varint()
        elif ttype == 7:
            self.pos += 8
        elif ttype == 8:
            length = self.varint()  # read first: `pos += varint()` would lose varint's own advance
            self.pos += length
        elif ttype in (9, 10):
            header = self.byte()
            size, etype = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                if etype in (1, 2):  # bools in a list take one byte each
                    self.pos += 1
                else:
                    self.skip(etype)
        elif ttype == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip(kv >> 4)
                    self.skip(kv & 0x0F)
        elif ttype == 12:
            self.struct_fields(stop_at=None)
        else:
            raise ValueError(f"unknown thrift type {ttype}")

    def struct_fields(self, stop_at: int | None) -> int | None:
        """Walk a struct; return the i64 value of field ``stop_at`` if met (else skip everything)."""
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return None
            delta, ttype = header >> 4, header & 0x0F
            field = last + delta if delta else self.zigzag()
            last = field
            if field == stop_at and ttype == 6:
                return self.zigzag()
            self.skip(ttype)


def parquet_num_rows(tail: bytes) -> int | None:
    """``num_rows`` from a Parquet file's last bytes, or ``None`` if the footer is not all there."""
    if len(tail) < 12 or tail[-4:] != _MAGIC:
        return None  # truncated, or an encrypted footer ("PARE")
    (footer_len,) = struct.unpack("<I", tail[-8:-4])
    if footer_len + 8 > len(tail):
        return None
    start = len(tail) - 8 - footer_len
    try:
        return _Compact(tail, start).struct_fields(stop_at=3)
    except (IndexError, ValueError):
        return None


class RowCounter:
    """Counts the rows of one file from the blocks a writer sends, where that is cheap.

    ``"parquet"``: ``num_rows`` from the footer, found in the last ``tail_bytes`` of the file
    (a bigger footer - very many row groups x columns - gives ``None``). ``"lines"``: one row per
    ``\\n`` (uncompressed NDJSON). ``None``: not known.
    """

    def __init__(self, kind: str | None, tail_bytes: int = 1 << 20) -> None:
        if kind not in (None, "parquet", "lines"):
            raise ValueError(f"kind must be None, 'parquet' or 'lines', not {kind!r}")
        self.kind = kind
        self._cap = tail_bytes
        self._tail = b""
        self._lines = 0
        self._settled: int | None = None
        self._is_settled = False

    def observe(self, block: bytes | bytearray | memoryview) -> None:
        if self._is_settled:
            raise ValueError("RowCounter.observe() after settle(): the file was already finished")
        if self.kind == "parquet":
            # keep only the file's last cap bytes; at most cap bytes are copied per block
            self._tail = (self._tail + bytes(memoryview(block)[-self._cap :]))[-self._cap :]
        elif self.kind == "lines":
            self._lines += bytes(block).count(b"\n") if isinstance(block, memoryview) else block.count(b"\n")

    def settle(self) -> int | None:
        """The file is finished: compute the count once and drop the kept tail (memory flat in the number of files)."""
        if not self._is_settled:
            self._settled = self.rows()
            self._is_settled = True
            self._tail = b""
        return self._settled

    def rows(self) -> int | None:
        if self._is_settled:
            return self._settled
        if self.kind == "lines":
            return self._lines
        if self.kind == "parquet":
            return parquet_num_rows(self._tail)
        return None
