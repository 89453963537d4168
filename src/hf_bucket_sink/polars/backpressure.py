"""Bound how far Polars' streaming engine runs ahead of a slow writer, without changing its output.

A blocking ``write()`` does stop Polars' Parquet sink (it holds the sink's morsel permits),
but the engine keeps a fixed number of *morsels* queued upstream of it — about 18 per
pipeline (decode queue, linearizers, connectors), measured on Polars 2.1 — and all of
them fill up when the consumer is the bottleneck. Their count is bounded, so the run-ahead
does not grow with the data; their size is ``streaming_chunk_size`` rows (default 100,000),
so it grows with row width and core count (0.77-1.4 GB on W1 at 20 MB/s, about what Polars'
own sink holds in front of a file that slow).

Two knobs, applied while a sink runs::

    with bounded_streaming(lf.collect_schema(), resize_morsels=morsel_budget_requested()):
        lf.sink_parquet(writer)

- always: at most :data:`_INFLIGHT_SINK_MORSELS` morsels in flight inside the sink
  (``POLARS_INFLIGHT_SINK_MORSEL_LIMIT``). This does not change a single output byte
  (measured: W1 at scale 0.1 and 1, identical SHA-256 with and without).
- only with ``resize_morsels``: smaller morsels, sized so the queued ones fit a memory budget
  (``HF_BUCKET_SINK_MORSEL_BUDGET_MB``). This *does* change Polars' Parquet row groups:
  Polars' sink cuts row groups at morsel boundaries, so any morsel size other than the
  default moves them (W1, scale 1: 64 row groups / 231,621,156 bytes by default, 71 / 232,018,986
  at the 64 MB budget's 5,486-row morsels, 71-74 at 17,000 and 30,000 rows). Bucket sinks
  therefore resize only when the user sets the budget variable, and by default write the
  file Polars writes locally, byte for byte. The CDC writer (pyarrow cuts its own row
  groups) always resizes.

Both knobs are process-wide in Polars 2.1 (an environment variable read when a sink starts and a
``pl.Config`` value read when a query starts): a query started in another thread of the same
process while a sink runs sees them too. The in-flight limit then only slows that query's sink
a little; a resized morsel also changes the row groups of a Parquet file that query writes. The
first entry saves Polars' settings and the last exit restores them, also when the body raises.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

__all__ = ["bounded_streaming", "morsel_rows_for", "morsel_budget_requested", "MORSEL_BUDGET_ENV"]

#: memory budget for queued morsels, in MB; setting it makes bucket sinks resize Polars' morsels
MORSEL_BUDGET_ENV = "HF_BUCKET_SINK_MORSEL_BUDGET_MB"
_DEFAULT_BUDGET_MB = 64  # W1: same CPU as 128, 510 vs 590 MB peak; 782 vs 830 MB at 20 MB/s on W1x5
_SLOTS_PER_PIPELINE = 18  # morsels queued per pipeline when the sink is blocked (measured, Polars 2.1)
_INFLIGHT_ENV = "POLARS_INFLIGHT_SINK_MORSEL_LIMIT"
_INFLIGHT_SINK_MORSELS = 2
_MIN_ROWS, _MAX_ROWS = 1_000, 100_000

_lock = threading.Lock()
_active: list[int | None] = []  # one entry per running body: the morsel rows it asked for, or None
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


def morsel_budget_requested() -> bool:
    """Whether the user asked for the morsel memory budget (``HF_BUCKET_SINK_MORSEL_BUDGET_MB`` is set)."""
    return bool(os.environ.get(MORSEL_BUDGET_ENV, "").strip())


def morsel_rows_for(schema: pl.Schema, *, budget_bytes: int | None = None, pipelines: int | None = None) -> int:
    """Rows per morsel so that the morsels Polars queues while blocked fit ``budget_bytes``."""
    if budget_bytes is None:
        raw = os.environ.get(MORSEL_BUDGET_ENV, "").strip() or _DEFAULT_BUDGET_MB
        budget_bytes = int(float(raw) * 1_000_000)
    pipelines = pipelines or pl.thread_pool_size()
    rows = budget_bytes // (_SLOTS_PER_PIPELINE * pipelines * _row_bytes(schema))
    return int(min(_MAX_ROWS, max(_MIN_ROWS, rows)))


def _current_morsel_rows() -> int | None:
    value = pl.Config.state().get("POLARS_IDEAL_MORSEL_SIZE")
    return int(value) if value else None


def _apply() -> None:
    # caller holds _lock. With several sinks at once the smallest morsel wins (every budget holds);
    # when no running body resizes, Polars gets back whatever it had before the first one.
    wanted = [rows for rows in _active if rows is not None]
    pl.Config.set_streaming_chunk_size(min(wanted) if wanted else _saved[0])


def _restore() -> None:
    chunk, inflight = _saved
    pl.Config.set_streaming_chunk_size(chunk)
    if inflight is None:
        os.environ.pop(_INFLIGHT_ENV, None)
    else:
        os.environ[_INFLIGHT_ENV] = inflight


@contextmanager
def bounded_streaming(schema: pl.Schema, *, resize_morsels: bool = True) -> Iterator[int | None]:
    """Run the body with the sink's in-flight morsels capped and, if ``resize_morsels``, morsels sized
    for the memory budget; yields the morsel rows used (``None``: Polars' own size).

    >>> with bounded_streaming(lf.collect_schema(), resize_morsels=False):
    ...     lf.sink_parquet(writer)          # the same bytes Polars writes to a local file

    Re-entrant and thread-safe: the first entry saves Polars' settings, the last exit restores them,
    also when the body raises.
    """
    global _saved
    rows = morsel_rows_for(schema) if resize_morsels else None
    with _lock:
        if not _active:
            _saved = (_current_morsel_rows(), os.environ.get(_INFLIGHT_ENV))
            os.environ[_INFLIGHT_ENV] = str(_INFLIGHT_SINK_MORSELS)
        _active.append(rows)
        try:
            if rows is not None:
                _apply()
        except BaseException:
            _active.remove(rows)
            if not _active:
                _restore()
            raise
    try:
        yield rows
    finally:
        with _lock:
            _active.remove(rows)
            if not _active:
                _restore()
            elif rows is not None:
                _apply()
