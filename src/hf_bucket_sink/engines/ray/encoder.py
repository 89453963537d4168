"""One bucket file written from Arrow tables, in the format a Ray write asked for.

Parquet goes through pyarrow's ``ParquetWriter`` (row groups regrouped to exactly
``row_group_size`` rows, as the Polars CDC sink does, so identical input gives identical bytes);
CSV and NDJSON through Polars' encoders. The encoder writes into any file object (a
:class:`~hf_bucket_sink.core.writers.BucketWriter` in a task) and counts the bytes it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hf_bucket_sink.polars.cdc import TellingFile, arrow_row_groups, portable_schema

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TableFileEncoder"]


class TableFileEncoder:
    """One bucket file being written from Arrow tables: a format encoder over a ``TellingFile`` (counts bytes).

    >>> out = TableFileEncoder("parquet", session.open_writer(target), options)   # options: see BucketDatasink
    >>> out.write(table); out.bytes            # bytes encoded so far
    >>> out.close()                            # pending row groups and the footer (or out.discard() on failure)
    """

    def __init__(self, fmt: str, file: Any, options: Mapping[str, Any]) -> None:
        self.fmt = fmt
        self.gate = TellingFile(file)
        self.rows = 0
        self._options = options
        self._parquet: Any = None
        self._schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._header_written = False

    @property
    def bytes(self) -> int:
        return self.gate.tell()

    def write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self._write_parquet(table)
        else:
            self._write_text(table)
        self.rows += table.num_rows

    def _write_parquet(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._schema = portable_schema(table.schema)
            opts = self._options
            self._parquet = pq.ParquetWriter(
                self.gate,
                self._schema,
                compression=opts["compression"],
                compression_level=opts["compression_level"],
                use_content_defined_chunking=opts["cdc"] or False,
            )
        # regroup into exact row groups (what write_cdc_parquet does): identical input, identical bytes
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self._options["row_group_size"]:
            self._flush_groups(final=False)

    def _flush_groups(self, *, final: bool) -> None:
        size = self._options["row_group_size"]
        assert self._schema is not None
        groups = list(arrow_row_groups(self._pending, size, self._schema))
        self._pending, self._pending_rows = [], 0
        if not final and groups and groups[-1].num_rows < size:
            tail = groups.pop()  # keep the short remainder for the next group
            self._pending, self._pending_rows = [tail], tail.num_rows
        for group in groups:
            self._parquet.write_table(group, row_group_size=group.num_rows)

    def _write_text(self, table: pa.Table) -> None:
        import polars as pl

        frame = pl.from_arrow(table, rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        if self.fmt == "csv":
            frame.write_csv(self.gate, include_header=not self._header_written)
            self._header_written = True
        else:
            frame.write_ndjson(self.gate)

    def close(self) -> None:
        """Write what is pending and the Parquet footer (the upload itself is finished by the session)."""
        if self._parquet is not None:
            self._flush_groups(final=True)
            self._parquet.close()

    def discard(self) -> None:
        """On failure: pyarrow writes a footer when destroyed; send it nowhere (see write_cdc_parquet)."""
        self.gate.shut()
        if self._parquet is not None:
            self._parquet.is_open = False

