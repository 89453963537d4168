"""Dedup-friendly Parquet: pyarrow's content-defined-chunking (CDC) writer fed from a Polars stream.

Xet storage deduplicates ~64 KB content-defined chunks of the *file bytes*. Polars' own
Parquet writer cuts pages and row groups by row counts, so inserting or deleting a few rows
shifts every later page and nearly the whole file is new to the bucket. pyarrow's writer
with ``use_content_defined_chunking`` cuts *data pages* where a rolling hash of the values
says so; an edit then changes only the pages around it (see docs/dedup.md for the numbers).

Usage (any writable binary file: a ``BucketWriter``, a local file, ``io.BytesIO``)::

    from hf_bucket_sink.polars.cdc import write_cdc_parquet

    with open("out.parquet", "wb") as f:
        rows = write_cdc_parquet(lf, f)                       # CDC with the tuned defaults
        rows = write_cdc_parquet(lf, f, cdc={"min_chunk_size": 256 * 1024,
                                             "max_chunk_size": 1024 * 1024,
                                             "norm_level": 0})

Memory is bounded and independent of the input size: Polars' run-ahead is capped by
:func:`~hf_bucket_sink.polars.backpressure.bounded_streaming`, and we hold at most one row group
of Arrow data (``row_group_size`` rows) plus one Polars batch. A blocking ``file.write()``
stops the loop, which stops pulling batches, which stops the query: the same backpressure as
Polars' own sink.

Needs ``pyarrow`` (>= 21, the first release with ``use_content_defined_chunking``) at run time.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl

from hf_bucket_sink.polars.backpressure import bounded_streaming
from hf_bucket_sink.errors import InvalidOptionError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CDC_DEFAULTS",
    "CDC_KEYS",
    "DEFAULT_COMPRESSION",
    "DEFAULT_DATA_PAGE_SIZE",
    "DEFAULT_ROW_GROUP_SIZE",
    "cdc_options",
    "TellingFile",
    "portable_schema",
    "arrow_row_groups",
    "write_cdc_parquet",
]

logger = logging.getLogger("hf_bucket_sink")

#: keys accepted in a ``cdc=`` mapping (pyarrow's names)
CDC_KEYS = ("min_chunk_size", "max_chunk_size", "norm_level")
#: 64-256 KiB of *unencoded* values per page (pyarrow's own default is 256 KiB-1 MiB). Every
#: edit re-writes ~1-2 pages per column around it, so smaller pages mean fewer new bytes:
#: W1 scale 1, 1% mid-table insert: 9.0% new with pyarrow's default sizes, 4.8% with these,
#: at ~1% larger files (docs/dedup.md, "Choosing the defaults").
CDC_DEFAULTS: Mapping[str, int] = {"min_chunk_size": 64 * 1024, "max_chunk_size": 256 * 1024, "norm_level": 0}
#: target rows per row group. CDC re-synchronises *inside* a column chunk only, so chunks must be
#: many times ``max_chunk_size`` (1 Mi rows of an int64 column = 8 MiB); memory held is ~ one group.
DEFAULT_ROW_GROUP_SIZE = 1024 * 1024
#: max encoded bytes per data page: pyarrow's default, above ``max_chunk_size`` so that CDC,
#: not the size limit, decides where pages end (a size-limited page end does not re-synchronise)
DEFAULT_DATA_PAGE_SIZE = 1024 * 1024
#: zstd: what Hugging Face's tools write and smaller files; CDC dedups the same with snappy
DEFAULT_COMPRESSION = "zstd"

_COMPRESSIONS = ("zstd", "snappy", "lz4", "gzip", "brotli", "uncompressed")
_MAX_ROW_GROUP = 64 * 1024 * 1024  # pyarrow caps row groups here


def cdc_options(cdc: bool | Mapping[str, int] | None) -> bool | dict[str, int]:
    """Validate a ``content_defined_chunking`` option; return what pyarrow's writer takes.

    ``True`` -> the defaults (:data:`CDC_DEFAULTS`), ``False``/``None`` -> ``False`` (no CDC),
    a mapping -> the defaults updated with its keys (a subset of :data:`CDC_KEYS`).
    Raises :class:`~hf_bucket_sink.errors.InvalidOptionError` (a ValueError) naming the accepted keys.

    >>> cdc_options({"max_chunk_size": 1 << 20})
    {'min_chunk_size': 65536, 'max_chunk_size': 1048576, 'norm_level': 0}
    """
    accepted = f"True, False, or a dict with keys {', '.join(CDC_KEYS)} (defaults {dict(CDC_DEFAULTS)})"
    if cdc is None or cdc is False:
        return False
    if cdc is True:
        return dict(CDC_DEFAULTS)
    if not isinstance(cdc, Mapping):
        raise InvalidOptionError(f"content_defined_chunking must be {accepted}; got {cdc!r}.")
    unknown = sorted(str(k) for k in cdc if k not in CDC_KEYS)
    if unknown:
        raise InvalidOptionError(
            f"content_defined_chunking got unknown key(s) {', '.join(map(repr, unknown))}; accepted: {accepted}."
        )
    merged = dict(CDC_DEFAULTS)
    for key, value in cdc.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidOptionError(f"content_defined_chunking[{key!r}] must be an int; got {value!r}.")
        merged[str(key)] = value
    if merged["min_chunk_size"] < 1:
        raise InvalidOptionError(f"content_defined_chunking['min_chunk_size'] must be >= 1; got {merged['min_chunk_size']}.")
    if merged["max_chunk_size"] <= merged["min_chunk_size"]:
        raise InvalidOptionError(
            "content_defined_chunking['max_chunk_size'] must be greater than 'min_chunk_size'; got "
            f"min {merged['min_chunk_size']}, max {merged['max_chunk_size']}."
        )
    # pyarrow derives a hash mask from the sizes and norm_level and rejects impossible ones only
    # when a writer opens; try it now so a bad value fails before the query (and the upload) starts
    _probe_writer(merged)
    return merged


def _probe_writer(cdc: Mapping[str, int]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.ParquetWriter(io.BytesIO(), pa.schema([("x", pa.int8())]), use_content_defined_chunking=dict(cdc)).close()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InvalidOptionError(
            f"content_defined_chunking={dict(cdc)!r} is not accepted by pyarrow: {exc}. "
            f"Keys: {', '.join(CDC_KEYS)}; norm_level is usually 0-3."
        ) from exc


def _positive_int(name: str, value: Any, upper: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (upper is not None and value > upper):
        bound = f" and <= {upper:,}" if upper is not None else ""
        raise InvalidOptionError(f"{name} must be an int >= 1{bound}; got {value!r}.")
    return value


def _arrow_schema(schema: pl.Schema, metadata: Mapping[str, str] | None) -> pa.Schema:
    # the Arrow types Polars' to_arrow() produces for this schema (an empty frame converts exactly)
    arrow = portable_schema(pl.DataFrame(schema=schema).to_arrow().schema)
    if metadata:
        arrow = arrow.with_metadata({**(arrow.metadata or {}), **{str(k): str(v) for k, v in metadata.items()}})
    return arrow


def portable_schema(schema: pa.Schema) -> pa.Schema:
    """string_view/binary_view -> large_string/large_binary: what every Parquet reader maps back cleanly.

    Polars 2.1's ``to_arrow()`` already yields ``large_string``; newer compat levels may yield views.
    """
    import pyarrow as pa

    def fix(t: pa.DataType) -> pa.DataType:
        if t == pa.string_view():
            return pa.large_string()
        if t == pa.binary_view():
            return pa.large_binary()
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            inner = fix(t.value_type)
            return pa.large_list(inner) if pa.types.is_large_list(t) else pa.list_(inner)
        if pa.types.is_struct(t):
            return pa.struct([f.with_type(fix(f.type)) for f in t])
        return t

    return pa.schema([f.with_type(fix(f.type)) for f in schema], metadata=schema.metadata)


def write_cdc_parquet(
    lf: pl.LazyFrame | pl.DataFrame,
    file: BinaryIO,
    *,
    cdc: bool | Mapping[str, int] = True,
    compression: str = DEFAULT_COMPRESSION,
    compression_level: int | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    row_group_cuts: str = "content",
    row_group_key: str | None = None,
    data_page_size: int = DEFAULT_DATA_PAGE_SIZE,
    statistics: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Stream ``lf`` into ``file`` as one Parquet file written by pyarrow's CDC writer; return the row count.

    - ``file``: a writable binary file object (``BucketWriter``, ``open(..., "wb")``, ``io.BytesIO``).
      It is neither closed nor flushed-and-published: the caller owns it (commit/abort).
    - ``cdc``: ``True`` (default parameters, :data:`CDC_DEFAULTS`), ``False`` (pyarrow's plain
      writer), or a dict with ``min_chunk_size`` / ``max_chunk_size`` (bytes) / ``norm_level``.
    - ``compression`` / ``compression_level``: one of zstd (default), snappy, lz4, gzip, brotli, uncompressed.
    - ``row_group_size``: rows per row group (default 1 Mi; with ``row_group_cuts="content"``
      the *average*, each group between half and twice that). Row groups are built from many
      Polars batches and never follow batch boundaries, so identical input gives identical bytes.
      Memory held here is at most one row group of Arrow data.
    - ``row_group_cuts``: ``"content"`` (default) ends a row group after a row whose
      ``row_group_key`` value hashes to a marker, so an insert or delete moves only the
      boundaries next to it and every later row group stays byte-identical; ``"fixed"`` cuts
      every ``row_group_size`` rows like other writers (an edit then shifts every later group).
    - ``row_group_key``: column whose values place content-defined cuts (default: the first
      column). Pick one with many distinct values that an edit of other columns leaves alone.
    - ``data_page_size``: max encoded bytes per data page (default 1 MiB, above the CDC maximum).
    - ``statistics``: write min/max/null-count statistics (default True).
    - ``metadata``: extra key-value metadata for the file footer.

    Raises :class:`~hf_bucket_sink.errors.InvalidOptionError` for bad options (before the query
    runs); errors from the query or from ``file.write()`` propagate unchanged, so the caller can
    map them exactly as for Polars' own sink.

    >>> with open("x.parquet", "wb") as f:
    ...     write_cdc_parquet(pl.scan_parquet("in.parquet"), f, compression="snappy")
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunking = cdc_options(cdc)
    if compression not in _COMPRESSIONS:
        raise InvalidOptionError(f"compression must be one of {', '.join(_COMPRESSIONS)}; got {compression!r}.")
    if compression_level is not None and (isinstance(compression_level, bool) or not isinstance(compression_level, int)):
        raise InvalidOptionError(f"compression_level must be an int or None; got {compression_level!r}.")
    row_group_size = _positive_int("row_group_size", row_group_size, _MAX_ROW_GROUP)
    if row_group_cuts not in ("content", "fixed"):
        raise InvalidOptionError(f"row_group_cuts must be 'content' or 'fixed'; got {row_group_cuts!r}.")
    data_page_size = _positive_int("data_page_size", data_page_size)
    if not isinstance(statistics, bool):
        raise InvalidOptionError(f"statistics must be True or False for the CDC writer; got {statistics!r}.")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidOptionError(f"metadata must be a dict of str -> str; got {type(metadata).__name__}.")
    lf = lf.lazy() if isinstance(lf, pl.DataFrame) else lf
    if not isinstance(lf, pl.LazyFrame):
        raise InvalidOptionError(f"write_cdc_parquet needs a polars LazyFrame or DataFrame, not {type(lf).__name__}.")

    schema = lf.collect_schema()
    if row_group_key is not None and row_group_key not in schema:
        raise InvalidOptionError(f"row_group_key {row_group_key!r} is not a column; columns: {', '.join(schema.names())}.")
    key = row_group_key if row_group_key is not None else (schema.names()[0] if schema.len() else None)
    arrow_schema = _arrow_schema(schema, metadata)
    gate = TellingFile(file)
    writer = pq.ParquetWriter(
        gate,
        arrow_schema,
        compression=compression,
        compression_level=compression_level,
        write_statistics=statistics,
        data_page_size=data_page_size,
        use_content_defined_chunking=chunking,
    )
    rows = 0
    try:
        # bounded_streaming: Polars' queues in front of collect_batches fill while we (or the
        # upload behind file.write) are the bottleneck, so size morsels to the memory budget
        with bounded_streaming(schema) as morsel_rows:
            batches = lf.collect_batches(chunk_size=morsel_rows, maintain_order=True)
            if row_group_cuts == "content" and key is not None:
                groups = _content_row_groups(batches, row_group_size, key, arrow_schema)
            else:
                groups = arrow_row_groups((df.to_arrow() for df in batches), row_group_size, arrow_schema)
            for table in groups:
                writer.write_table(table, row_group_size=table.num_rows)  # one table = one row group
                rows += table.num_rows
        writer.close()  # writes the footer into ``file``
    except BaseException:
        # pyarrow has no abort(): its C++ writer writes a footer when destroyed. Close the gate
        # first so those bytes go nowhere; the caller aborts ``file`` and nothing half-written
        # ever looks like a complete Parquet file.
        gate.shut()
        writer.is_open = False  # and keep ParquetWriter.__del__ from calling close()
        raise
    return rows


def arrow_row_groups(tables: Iterable[pa.Table], size: int, schema: pa.Schema) -> Iterable[pa.Table]:
    """Regroup a stream of small tables into tables of exactly ``size`` rows (the last one shorter).

    Exact cuts matter: row-group boundaries that followed Polars' batch boundaries would move
    between runs and break deduplication of identical re-sinks. ``concat_tables`` and ``slice``
    are zero-copy, so the only memory held is the pending row group.
    """
    import pyarrow as pa

    pending: list[pa.Table] = []
    pending_rows = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        if not table.schema.equals(schema, check_metadata=False):
            table = table.cast(schema)  # e.g. string_view from a newer Polars; cheap for same-layout types
        pending.append(table)
        pending_rows += table.num_rows
        while pending_rows >= size:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending, pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
    if pending_rows:
        yield pa.concat_tables(pending)


#: seed of the row-group cut hash; changing it moves every cut (and costs one full re-upload)
_CUT_SEED = 0x48465843


def _content_row_groups(frames: Iterable[pl.DataFrame], size: int, key: str, schema: pa.Schema) -> Iterable[pa.Table]:
    """Regroup Polars batches into row groups whose ends are chosen by the data.

    A group ends after the first row, at least ``size // 2`` rows in, whose ``key`` hash is
    0 modulo ``(size - size // 2) // 4``, or at ``2 * size`` rows. Rows sharing a key value hit
    together, so the average group is ~``size`` rows when a key repeats ~4 times (W1's order
    key) and ~``0.6 * size`` when keys are unique; always between ``size // 2`` and ``2 * size``.
    Like CDC inside a page stream: after an insert or delete the cuts re-synchronise at the
    next marker row, so later row groups - and their bytes - are unchanged.
    """
    import numpy as np
    import pyarrow as pa

    min_rows = max(1, size // 2)
    max_rows = min(2 * size, _MAX_ROW_GROUP)
    modulus = max(1, (size - min_rows) // 4)
    pending: list[pa.Table] = []
    grouped = 0  # rows in ``pending``
    for df in frames:
        n = df.height
        if n == 0:
            continue
        # Polars' hash is fixed for a given seed and Polars version (a new version may move cuts once)
        hits = np.flatnonzero(df.get_column(key).hash(seed=_CUT_SEED).to_numpy() % modulus == 0)
        table = df.to_arrow()
        if not table.schema.equals(schema, check_metadata=False):
            table = table.cast(schema)
        start = 0
        while start < n:
            earliest = start + max(0, min_rows - grouped - 1)  # first row that may end the group
            forced = start + (max_rows - grouped - 1)
            i = int(np.searchsorted(hits, earliest))
            end = min(int(hits[i]) if i < len(hits) else n, forced)
            if end < n:
                pending.append(table.slice(start, end + 1 - start))
                yield pa.concat_tables(pending)
                pending, grouped, start = [], 0, end + 1
            else:
                pending.append(table.slice(start))
                grouped += n - start
                start = n
    if grouped:
        yield pa.concat_tables(pending)


class TellingFile(io.RawIOBase):
    """The file pyarrow writes to: forwards to ``file`` and counts the position itself.

    ``tell()`` is answered here because a streaming target (``BucketWriter``) cannot seek, and
    after :meth:`shut` writes are dropped (see the error path of :func:`write_cdc_parquet`).
    """

    def __init__(self, file: BinaryIO) -> None:
        super().__init__()
        self._file = file
        self._pos = 0
        self._shut = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        n = memoryview(data).nbytes
        if not self._shut:
            self._file.write(data)
            self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        """Nothing buffered here; the owner of ``file`` decides when bytes are final."""

    def shut(self) -> None:
        self._shut = True
