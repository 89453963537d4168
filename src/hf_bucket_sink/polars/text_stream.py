"""CSV and NDJSON read as a stream: bytes from Xet (by the listed hash), cut at record boundaries, parsed
by Polars one piece at a time. Memory is a few pieces (:data:`PIECE` bytes each), whatever the file size;
nothing is written to disk. gzip (``zlib``) and zstd (pyarrow's streaming decompressor) files are
decompressed as they stream, concatenated members / frames included.

>>> pieces = records(decompressed(blocks, "gzip"), quote=b'"', eol=b"\\n")   # bytes ending at a record
>>> frames = [parse_piece("csv", p, schema, {}, continuation=i > 0) for i, p in enumerate(pieces)]

:func:`streamable` says which scan options a piece-by-piece parse honours exactly as Polars does; the
scan falls back to a whole-file copy for the others (docs/read-path.md lists both).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import polars as pl

from hf_bucket_sink.errors import InvalidFileError, InvalidOptionError

__all__ = ["PIECE", "CSV_STREAM_OPTIONS", "NDJSON_STREAM_OPTIONS", "streamable", "compression_of", "decompressed", "records", "parse_piece", "infer_schema", "scan_stream", "pushed_down"]

#: bytes parsed at once (a piece ends at the last record boundary after this many bytes)
PIECE = 4 * 1024 * 1024

#: scan_csv options a piece-by-piece parse gives exactly as Polars does (later pieces parsed without a header)
CSV_STREAM_OPTIONS = {
    "separator", "quote_char", "null_values", "try_parse_dates", "schema", "schema_overrides", "infer_schema",
    "infer_schema_length", "encoding", "decimal_comma", "truncate_ragged_lines", "ignore_errors", "has_header",
    "comment_prefix", "eol_char", "raise_if_empty", "low_memory", "empty_string_is_null", "include_file_paths", "glob",
}
NDJSON_STREAM_OPTIONS = {"schema", "schema_overrides", "infer_schema_length", "ignore_errors", "low_memory", "include_file_paths", "glob"}
#: options the scan itself handles around the parse (listing, hive keys, file paths)
_AROUND = {"include_file_paths", "glob", "low_memory", "hive_partitioning", "hive_schema", "try_parse_hive_dates", "hidden_file_prefix"}


def compression_of(path: str) -> str | None:
    """``gzip`` / ``zstd`` by the file's extension (as Polars detects them), else None."""
    lower = path.lower()
    if lower.endswith((".gz", ".gzip")):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def streamable(fmt: str, options: Mapping[str, Any], paths: Iterable[str]) -> bool:
    """Whether these options and files can be read piece by piece with Polars' exact answer
    (every file can: plain, gzip and zstd all stream; ``paths`` is kept for other compressions)."""
    allowed = CSV_STREAM_OPTIONS if fmt == "csv" else NDJSON_STREAM_OPTIONS
    if any(k not in allowed and k not in _AROUND for k in options):
        return False
    if "infer_schema_length" in options and options["infer_schema_length"] is None:
        return False  # inference over the whole file needs the whole file first
    if fmt == "csv" and options.get("encoding", "utf8") not in ("utf8", "utf8-lossy"):
        return False
    return True


def decompressed(blocks: Iterable[bytes], compression: str | None) -> Iterator[bytes]:
    """``blocks`` decompressed on the fly (gzip, zstd: concatenated members / frames too), or as they are."""
    if compression is None:
        yield from blocks
        return
    if compression == "zstd":
        yield from _zstd(blocks)
        return
    if compression != "gzip":
        raise InvalidOptionError(f"cannot stream {compression!r}-compressed files")
    inflater = zlib.decompressobj(wbits=31)
    for block in blocks:
        while block:
            out = inflater.decompress(block, PIECE)
            if out:
                yield out
            block = inflater.unconsumed_tail
            if inflater.eof:  # another gzip member follows
                block = inflater.unused_data + block
                inflater = zlib.decompressobj(wbits=31)
    rest = inflater.flush()
    if rest:
        yield rest


def _zstd(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """zstd frames decompressed as ``blocks`` arrive: pyarrow's ``CompressedInputStream`` (libzstd,
    no new dependency) pulls from the blocks through a file-like adapter, :data:`PIECE` out at a time."""
    import pyarrow as pa

    stream = pa.CompressedInputStream(pa.PythonFile(_BlockReader(blocks), mode="r"), "zstd")
    try:
        while out := stream.read(PIECE):
            yield out
    except pa.ArrowInvalid as exc:
        raise InvalidFileError(f"The file is not valid zstd: {exc}. Check its extension matches its content.") from exc
    finally:
        stream.close()


class _BlockReader(io.RawIOBase):
    """A read-only file over an iterator of byte blocks (holds at most one block)."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        super().__init__()
        self._blocks = iter(blocks)
        self._held = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._held:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._held = memoryview(block)
        n = min(len(buffer), len(self._held))
        buffer[:n] = self._held[:n]
        self._held = self._held[n:]
        return n


def records(blocks: Iterable[bytes], *, quote: bytes | None, eol: bytes = b"\n", size: int | None = None) -> Iterator[bytes]:
    """Pieces of at least ``size`` bytes (the last may be shorter), each ending after a record.

    A record ends at ``eol`` outside quotes: with a quote character, an ``eol`` is a boundary when
    the number of quotes before it is even (a doubled quote inside a field keeps the count even).
    A piece is cut at the last boundary of the block that brings it to ``size``, and copied once
    (the blocks joined); a fresh 8 MiB buffer costs page faults, so the old accumulate-then-slice
    (three copies per byte) took half of a streamed CSV scan's Python time."""
    size = PIECE if size is None else size
    held: list[bytes] = []
    held_bytes = 0
    held_quotes = 0  # quotes in held[:-1]; held always starts at a record boundary
    for block in blocks:
        if not block:
            continue
        if held and quote is not None:
            held_quotes += _count(held[-1], quote)
        held.append(block)
        held_bytes += len(block)
        if held_bytes < size:
            continue
        cut = _last_boundary(block, quote, eol, held_quotes)
        if cut <= 0:
            continue  # no record ends in this block: keep reading
        if len(held) == 1 and cut == len(block):
            piece = block
        else:
            piece = b"".join([*held[:-1], memoryview(block)[:cut]])
        rest = block[cut:]
        held, held_bytes, held_quotes = ([rest], len(rest), 0) if rest else ([], 0, 0)
        yield piece
    if held:
        yield b"".join(held)


def _count(data: bytes, quote: bytes, start: int = 0) -> int:
    # find() is a memchr; count() walks every byte: quote-free data (most files) skips the walk
    return data.count(quote, start) if data.find(quote, start) >= 0 else 0


def _last_boundary(block: bytes, quote: bytes | None, eol: bytes, quotes_before: int = 0) -> int:
    """Position just after the last record end in ``block`` (0 if none), given the quotes before it."""
    pos = block.rfind(eol)
    if quote is None:
        return pos + len(eol) if pos >= 0 else 0
    total = quotes_before + _count(block, quote)
    while pos >= 0:
        if (total - _count(block, quote, pos)) % 2 == 0:
            return pos + len(eol)
        pos = block.rfind(eol, 0, pos)
    return 0


def _read_options(fmt: str, options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in _AROUND}


def infer_schema(fmt: str, first_piece: bytes, options: Mapping[str, Any]) -> pl.Schema:
    """The schema Polars infers for a file that starts with ``first_piece`` (it reads the first
    ``infer_schema_length`` rows, default 100, which a piece holds)."""
    opts = _read_options(fmt, options)
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(first_piece), n_rows=opts.pop("infer_schema_length", 100) or 100, **opts).schema
    length = opts.pop("infer_schema_length", 100)
    return pl.read_ndjson(io.BytesIO(first_piece), infer_schema_length=length, n_rows=length, **opts).schema


def parse_piece(fmt: str, data: bytes, schema: pl.Schema, options: Mapping[str, Any], *, continuation: bool = False) -> pl.DataFrame:
    """One piece parsed with the scan's schema. A ``continuation`` (any piece after a file's
    first) has no CSV header line: it is parsed without one, columns named by ``schema``."""
    opts = _read_options(fmt, options)
    opts.pop("schema_overrides", None)  # already in ``schema``
    opts.pop("infer_schema_length", None)
    opts.pop("infer_schema", None)
    if fmt == "csv":
        if continuation:
            opts["has_header"] = False
        return pl.read_csv(data, schema=schema, **opts)
    return pl.read_ndjson(data, schema=schema, **opts)


def scan_stream(stream: BinaryIO, fmt: str, **options: Any) -> pl.LazyFrame:
    """A LazyFrame over CSV / NDJSON arriving on a non-seekable stream (stdin), read once, piece by piece.

    >>> lf = scan_stream(sys.stdin.buffer, "csv", separator=";")   # nothing read yet
    >>> lf.collect_schema()       # reads the first piece (kept for the read) to infer the schema

    The stream is consumed by the first collect; a second collect raises ``InvalidOptionError``.
    gzip input (magic bytes ``1f 8b``) and zstd input (``28 b5 2f fd``) are decompressed on the fly.
    """
    from polars.io.plugins import register_io_source

    if fmt not in ("csv", "ndjson"):
        raise InvalidOptionError(f"only CSV and NDJSON stream from a pipe, not {fmt!r}")
    if not streamable(fmt, options, []):
        raise InvalidOptionError(f"these {fmt} options need the whole input first: {sorted(options)}")
    quote = None
    eol = b"\n"
    if fmt == "csv":
        q = options.get("quote_char", '"')
        quote = q.encode() if q else None
        eol = str(options.get("eol_char", "\n")).encode()
    state: dict[str, Any] = {}

    def raw_blocks() -> Iterator[bytes]:
        while block := stream.read(1024 * 1024):
            yield block

    def start() -> None:
        if "pieces" in state:
            return
        blocks = raw_blocks()
        head = next(blocks, b"")
        compression = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head[:4] == b"\x28\xb5\x2f\xfd" else None
        state["pieces"] = records(decompressed(_chain(head, blocks), compression), quote=quote, eol=eol)
        state["first"] = next(state["pieces"], b"")
        state["schema"] = pl.Schema(options["schema"]) if options.get("schema") is not None else infer_schema(fmt, state["first"], options)

    def schema() -> pl.Schema:
        start()
        return state["schema"]  # type: ignore[no-any-return]

    def batches(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        start()
        if state.get("consumed"):
            raise InvalidOptionError("the piped input was already read by an earlier collect: pipe it again")
        state["consumed"] = True
        frames = (
            parse_piece(fmt, piece, state["schema"], options, continuation=i > 0)
            for i, piece in enumerate(_chain(state["first"], state["pieces"])) if piece
        )
        yield from pushed_down(frames, predicate, with_columns, n_rows)

    return register_io_source(batches, schema=schema, explain_name=f"stdin {fmt}", explain_detail="streamed once, piece by piece")


def _chain(first: bytes, rest: Iterable[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def pushed_down(
    frames: Iterator[pl.DataFrame], predicate: pl.Expr | None, with_columns: list[str] | None, n_rows: int | None
) -> Iterator[pl.DataFrame]:
    """Apply what Polars pushed into an IO source (predicate, projection, row limit) to its frames.

    Stops pulling ``frames`` once ``n_rows`` are out, and closes it then, so a source's ``finally``
    (an open stream) runs at once, not when the generator is collected.
    """
    remaining = n_rows
    try:
        for df in frames:
            if predicate is not None:
                df = df.filter(predicate)
            if with_columns is not None:
                df = df.select(with_columns)
            if remaining is not None:
                df = df.head(remaining)
                remaining -= df.height
            if df.height:
                yield df
            if remaining is not None and remaining <= 0:
                return
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
