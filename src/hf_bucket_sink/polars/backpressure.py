"""Bound how far Polars' streaming engine runs ahead of a slow writer.

A blocking ``write()`` does stop Polars' Parquet sink (it holds the sink's morsel permits),
but the engine keeps a fixed number of *morsels* queued upstream of it — about 18 per
pipeline (decode queue, linearizers, connectors), measured on Polars 2.1 — and all of
them fill up when the consumer is the bottleneck. Their count is bounded; their size is
not: a morsel is ``streaming_chunk_size`` rows (default 100,000), so the run-ahead grows
with row width and core count (0.77-1.4 GB on W1 at 20 MB/s against ~0.37 GB unthrottled).

So while a sink runs we shrink the morsel size so that the queued morsels fit a memory
budget, and cap the sink's in-flight morsels::

    with bounded_streaming(lf.collect_schema()):
        lf.sink_parquet(writer)

Measured on W1 (2 cores): throttled peak 1.2 GB -> ~0.4-0.5 GB, flat from scale 1 to 4,
with no measurable CPU cost unthrottled (see docs/architecture.md, "Backpressure").

Both knobs are process-wide in Polars 2.1 (a ``pl.Config`` value and an environment
variable read when a sink starts), so concurrent queries in the same process share them
while a sink runs; they are restored afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

__all__ = ["bounded_streaming", "morsel_rows_for", "MORSEL_BUDGET_ENV"]

#: override of the memory budget for queued morsels, in MB
MORSEL_BUDGET_ENV = "HF_BUCKET_SINK_MORSEL_BUDGET_MB"
_DEFAULT_BUDGET_MB = 64  # W1: same CPU as 128, 510 vs 590 MB peak; 782 vs 830 MB at 20 MB/s on W1x5
_SLOTS_PER_PIPELINE = 18  # morsels queued per pipeline when the sink is blocked (measured, Polars 2.1)
_INFLIGHT_ENV = "POLARS_INFLIGHT_SINK_MORSEL_LIMIT"
_INFLIGHT_SINK_MORSELS = 2
_MIN_ROWS, _MAX_ROWS = 1_000, 100_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int | None, str | None] = (None, None)


_FIXED_WIDTH: dict[type[pl.DataType], int] = {
    pl.Boolean: 1, pl.Int8: 1, pl.UInt8: 1, pl.Int16: 2, pl.UInt16: 2, pl.Int32: 4, pl.UInt32: 4,
    pl.Float32: 4, pl.Date: 4, pl.Int64: 8, pl.UInt64: 8, pl.Float64: 8, pl.Datetime: 8,
    pl.Duration: 8, pl.Time: 8, pl.Int128: 16, pl.Decimal: 16,
}


def _row_bytes(schema: pl.Schema) -> int:
    """Rough in-memory bytes per row: fixed widths exactly, 40 B for strings/binary, 64 B for nested types."""
    total = 0
    for dtype in schema.dtypes():
        base = dtype.base_type()
        total += _FIXED_WIDTH.get(base, 40 if base in (pl.String, pl.Binary, pl.Categorical, pl.Enum) else 64)
    return max(total, 8)


def morsel_rows_for(schema: pl.Schema, *, budget_bytes: int | None = None, pipelines: int | None = None) -> int:
    """Rows per morsel so that the morsels Polars queues while blocked fit ``budget_bytes``."""
    if budget_bytes is None:
        budget_bytes = int(float(os.environ.get(MORSEL_BUDGET_ENV, _DEFAULT_BUDGET_MB)) * 1_000_000)
    pipelines = pipelines or pl.thread_pool_size()
    rows = budget_bytes // (_SLOTS_PER_PIPELINE * pipelines * _row_bytes(schema))
    return int(min(_MAX_ROWS, max(_MIN_ROWS, rows)))


def _current_morsel_rows() -> int | None:
    value = pl.Config.state().get("POLARS_IDEAL_MORSEL_SIZE")
    return int(value) if value else None


@contextmanager
def bounded_streaming(schema: pl.Schema) -> Iterator[int]:
    """Run the body with Polars' morsels sized for the memory budget; yields the morsel size used.

    Re-entrant and thread-safe: the first entry saves Polars' settings, the last exit restores them.
    """
    global _active, _saved
    rows = morsel_rows_for(schema)
    with _lock:
        if _active == 0:
            _saved = (_current_morsel_rows(), os.environ.get(_INFLIGHT_ENV))
            os.environ[_INFLIGHT_ENV] = str(_INFLIGHT_SINK_MORSELS)
        _active += 1
        # with several sinks at once the smallest morsel wins: memory stays within every budget
        current = _current_morsel_rows()
        if _active == 1 or current is None or current > rows:
            pl.Config.set_streaming_chunk_size(rows)
    try:
        yield rows
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                chunk, inflight = _saved
                pl.Config.set_streaming_chunk_size(chunk)
                if inflight is None:
                    os.environ.pop(_INFLIGHT_ENV, None)
                else:
                    os.environ[_INFLIGHT_ENV] = inflight
