"""With default options a bucket sink writes the file Polars' own ``sink_parquet`` writes locally.

Byte for byte: row groups, pages, statistics and the footer's metadata (Polars 2.1 writes no
timestamp or random id into a Parquet file, so nothing needs masking; two local sinks of the same
query give identical bytes, which the first check of each case proves). The sources are Parquet
files with ~100,000-row row groups, which Polars' scan splits into morsels: the case where a
changed morsel size moves the output's row groups (docs/performance.md, "The same file as Polars").
Also: the process-wide Polars settings a sink changes are restored, also when the query fails.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import QueryError
from hf_bucket_sink.cli.workloads import tpch_lineitem, w1_pipeline
from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.polars.backpressure import MORSEL_BUDGET_ENV, bounded_streaming

_INFLIGHT_ENV = "POLARS_INFLIGHT_SINK_MORSEL_LIMIT"
ROWS = 300_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/same", exist_ok=True)
        yield h


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Parquet file of mixed types with 100,000-row row groups (like tpchgen's lineitem)."""
    n = ROWS
    df = pl.DataFrame({
        "id": pl.int_range(n, eager=True),
        "qty": (pl.int_range(n, eager=True) * 7919 % 50).cast(pl.Int32),
        "price": pl.int_range(n, eager=True).cast(pl.Float64) * 1.37 % 1000.0,
        "day": pl.date_range(date(1992, 1, 1), date(1992, 1, 1) + timedelta(days=2500), eager=True).sample(
            n, with_replacement=True, seed=7
        ),
        "flag": pl.Series(["A", "N", "R"] * (n // 3)),
        "comment": pl.int_range(n, eager=True).map_elements(lambda i: f"note {i * 31 % 997} " * (i % 4), return_dtype=pl.String),
    }).with_columns(qty=pl.when(pl.col("id") % 11 == 0).then(None).otherwise(pl.col("qty")))
    path = tmp_path_factory.mktemp("src") / "source.parquet"
    df.write_parquet(path, row_group_size=100_000)
    return path


QUERIES: dict[str, Callable[[Path], pl.LazyFrame]] = {
    # the pipeline on tpchgen's lineitem (scale 0.1: 600,000 rows, 6 row groups)
    "w1": lambda p: w1_pipeline(tpch_lineitem(0.1)),
    # W1's shape: filter + derived columns (the issue's case)
    "filter-derive": lambda p: pl.scan_parquet(p).filter(pl.col("day") <= date(1997, 9, 2)).with_columns(
        charge=pl.col("price") * (1 - pl.col("qty") / 100), year=pl.col("day").dt.year()
    ),
    # strings, nested types and nulls
    "nested": lambda p: pl.scan_parquet(p).select(
        "id", "flag", words=pl.col("comment").str.split(" "), pair=pl.struct("qty", "price")
    ),
    # a DataFrame source, not a scan
    "dataframe": lambda p: pl.read_parquet(p).lazy().filter(pl.col("qty") > 10),
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _local(lf: pl.LazyFrame, path: Path, **options: object) -> bytes:
    lf.sink_parquet(path, **options)
    return path.read_bytes()


def _from_bucket(hub: LocalHub, name: str, tmp_path: Path) -> bytes:
    local = tmp_path / f"bucket-{name}"
    HfApi(endpoint=hub.url, token=hub.token).download_bucket_files(
        f"{hub.user}/same", [(name, str(local))], raise_on_missing_files=True
    )
    return local.read_bytes()


@pytest.mark.parametrize("query", list(QUERIES))
def test_bucket_file_is_byte_identical_to_polars_local_sink(
    query: str, source: Path, hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MORSEL_BUDGET_ENV, raising=False)
    lf = QUERIES[query](source)
    expected = _local(lf, tmp_path / "a.parquet")
    assert _sha(_local(lf, tmp_path / "b.parquet")) == _sha(expected), "Polars' local output is not deterministic"
    name = f"{query}.parquet"
    result = hf_bucket_sink.sink_parquet(lf, f"hf://buckets/{hub.user}/same/{name}",
                                         storage_options={"token": hub.token, "endpoint": hub.url})
    assert result.size == len(expected)
    got = _from_bucket(hub, name, tmp_path)
    assert _sha(got) == _sha(expected)


def test_options_are_passed_through_unchanged(source: Path, hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MORSEL_BUDGET_ENV, raising=False)
    lf = QUERIES["filter-derive"](source)
    options = {"compression": "snappy", "statistics": "full", "row_group_size": 40_000}
    expected = _local(lf, tmp_path / "a.parquet", **options)
    hf_bucket_sink.sink_parquet(lf, f"hf://buckets/{hub.user}/same/opts.parquet",
                                storage_options={"token": hub.token, "endpoint": hub.url}, **options)
    assert _sha(_from_bucket(hub, "opts.parquet", tmp_path)) == _sha(expected)


@pytest.mark.parametrize("query", ["w1"])
def test_morsel_budget_is_what_moves_row_groups(query: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above can fail: resized morsels (the opt-in budget) give a different file."""
    monkeypatch.setenv(MORSEL_BUDGET_ENV, "64")  # the old default budget: 5,486-row morsels on W1
    lf = QUERIES[query](source)
    expected = _local(lf, tmp_path / "a.parquet")
    with bounded_streaming(lf.collect_schema(), resize_morsels=True) as rows:
        assert rows is not None and rows < 100_000
        resized = _local(lf, tmp_path / "b.parquet")
    assert _sha(resized) != _sha(expected)
    with bounded_streaming(lf.collect_schema(), resize_morsels=False) as rows:
        assert rows is None
        assert _sha(_local(lf, tmp_path / "c.parquet")) == _sha(expected)


def _settings() -> tuple[object, str | None]:
    return pl.Config.state().get("POLARS_IDEAL_MORSEL_SIZE"), os.environ.get(_INFLIGHT_ENV)


def test_polars_settings_restored_when_the_body_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_INFLIGHT_ENV, "7")
    pl.Config.set_streaming_chunk_size(33_333)
    try:
        before = _settings()
        schema = pl.Schema({"a": pl.Int64})
        with pytest.raises(ZeroDivisionError), bounded_streaming(schema, resize_morsels=True) as rows:
            assert _settings() == (str(rows), "2")  # the knobs were really set (else nothing to restore)
            with bounded_streaming(schema, resize_morsels=False):  # nested: the inner exit keeps them
                pass
            assert _settings() == (str(rows), "2")
            1 / 0  # noqa: B018
        assert _settings() == before
    finally:
        pl.Config.set_streaming_chunk_size(None)


def test_polars_settings_restored_after_a_failed_sink(hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MORSEL_BUDGET_ENV, "64")
    monkeypatch.delenv(_INFLIGHT_ENV, raising=False)
    pl.Config.set_streaming_chunk_size(None)
    seen: list[tuple[object, str | None]] = []

    def boom(s: pl.Series) -> pl.Series:
        seen.append(_settings())
        raise RuntimeError("query failure injected by the test")

    lf = pl.DataFrame({"a": range(10)}).lazy().with_columns(b=pl.col("a").map_batches(boom, return_dtype=pl.Int64))
    with pytest.raises(QueryError):
        hf_bucket_sink.sink_parquet(lf, f"hf://buckets/{hub.user}/same/fail.parquet",
                                    storage_options={"token": hub.token, "endpoint": hub.url})
    assert seen and seen[0][1] == "2" and seen[0][0] is not None  # the fault fired while the knobs were set
    assert _settings() == (None, None)
