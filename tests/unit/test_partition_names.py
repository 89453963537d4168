"""Partition file names of a bucket sink are the names Polars' own partitioned sink gives locally."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from hf_bucket_sink.polars.sinks import partition_file_path

KEY_FRAMES = {
    "integers": pl.DataFrame(
        {"a": [1, -5, None, 127], "b": [0, 2**40, 7, None]}, schema={"a": pl.Int8, "b": pl.UInt64}
    ),
    "strings": pl.DataFrame({"s": ["a b/c", "é=%", None, "x?#", ""]}),
    "booleans": pl.DataFrame({"t": [True, False, None]}),
    "floats and dates": pl.DataFrame(
        {"f": [1.5, -0.0, 1e20, None], "d": [dt.date(2026, 12, 4), None, dt.date(1970, 1, 1), dt.date(2000, 2, 29)]}
    ),
    "mixed": pl.DataFrame({"i": [1, 2], "s": ["x", "y/z"], "t": [True, False]}, schema_overrides={"i": pl.Int32}),
}


@pytest.mark.parametrize("name", sorted(KEY_FRAMES))
def test_partition_paths_are_the_names_polars_writes_locally(name: str, tmp_path: Path) -> None:
    keys = KEY_FRAMES[name]
    frame = keys.with_columns(v=pl.int_range(keys.height))
    frame.lazy().sink_parquet(pl.PartitionBy(f"{tmp_path}/", key=keys.columns), mkdir=True)
    local = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.parquet"))
    ours = sorted(partition_file_path(keys.slice(row, 1), 0, "parquet") for row in range(keys.height))
    assert len(local) == keys.height, local  # every key combination is its own partition
    assert ours == local
