"""RowCounter.settle(): a finished partition keeps its row count, not its 64 KiB tail."""

from __future__ import annotations

import io

import polars as pl
import pytest

from hf_bucket_sink.core.rows import RowCounter


def test_settle_keeps_the_count_and_drops_the_tail() -> None:
    buf = io.BytesIO()
    pl.DataFrame({"x": range(1234)}).write_parquet(buf)
    counter = RowCounter("parquet", 64 * 1024)
    data = buf.getvalue()
    for start in range(0, len(data), 100):
        counter.observe(data[start : start + 100])
    assert counter._tail  # noqa: SLF001 - the memory this test is about
    assert counter.settle() == 1234
    assert counter._tail == b""  # noqa: SLF001
    assert counter.rows() == 1234
    with pytest.raises(ValueError, match="after settle"):
        counter.observe(b"more")
