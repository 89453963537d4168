"""sink_parquet against the local Hub, read back with the official client.

Each test runs the real pipeline into a bucket on a real loopback server and checks what the
official ``huggingface_hub`` client sees afterwards: the data, or that nothing was registered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import (
    AuthenticationError,
    BucketAccessDeniedError,
    BucketNotFoundError,
    InvalidBucketPathError,
    InvalidOptionError,
    QueryError,
    UnsupportedTargetError,
)
from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.cli.workloads import tpch_lineitem, w1_pipeline, w2_pipeline

READ_TOKEN = "hf_test_read_token"
OTHER_TOKEN = "hf_test_other_user_token"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(
        data_dir=tmp_path_factory.mktemp("hub"),
        extra_tokens=[("local", READ_TOKEN, "read"), ("other", OTHER_TOKEN, "write")],
    ) as h:
        api = HfApi(endpoint=h.url, token=h.token)
        api.create_bucket(f"{h.user}/sink", exist_ok=True)
        HfApi(endpoint=h.url, token=OTHER_TOKEN).create_bucket("other/private", private=True)
        yield h


@pytest.fixture(scope="module")
def lineitem() -> Path:
    return tpch_lineitem(0.01)


def read_back(api: HfApi, hub: LocalHub, path: str, tmp_path: Path) -> pl.DataFrame:
    local = tmp_path / f"download-{time.monotonic_ns()}.parquet"
    api.download_bucket_files(f"{hub.user}/sink", [(path, str(local))], raise_on_missing_files=True)
    return pl.read_parquet(local)


def bucket_paths(api: HfApi, hub: LocalHub) -> set[str]:
    return {f.path for f in api.list_bucket_tree(f"{hub.user}/sink", recursive=True) if hasattr(f, "size")}


def upload_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("hf-bucket-sink-upload")]


class Counter:
    """A pipeline step that counts the batches it sees: proves whether the query ran at all."""

    def __init__(self, fail_after: int | None = None, exc: type[BaseException] = RuntimeError) -> None:
        self.batches = 0
        self.fail_after = fail_after
        self.exc = exc

    def __call__(self, df: pl.DataFrame) -> pl.DataFrame:
        self.batches += 1
        if self.fail_after is not None and self.batches > self.fail_after:
            raise self.exc("injected failure in the middle of the stream")
        return df


class CtrlC(Counter):
    """Presses Ctrl-C (SIGINT to the main thread, as a terminal would) once, mid-stream."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def __call__(self, df: pl.DataFrame) -> pl.DataFrame:
        import _thread

        self.batches += 1
        if self.batches == self.after:
            _thread.interrupt_main()
        return df


def counted(lf: pl.LazyFrame, counter: Counter) -> pl.LazyFrame:
    return lf.map_batches(counter, streamable=True)


# -- round trips ---------------------------------------------------------------------------------


def test_tpch_pipeline_round_trip_equals_local_sink(api: HfApi, hub: LocalHub, opts: dict[str, str], lineitem: Path, tmp_path: Path) -> None:
    local_file = tmp_path / "local.parquet"
    w1_pipeline(lineitem).sink_parquet(local_file)
    result = hf_bucket_sink.sink_parquet(w1_pipeline(lineitem), f"hf://buckets/{hub.user}/sink/w1/lineitem.parquet", storage_options=opts)

    remote = read_back(api, hub, "w1/lineitem.parquet", tmp_path)
    assert remote.equals(pl.read_parquet(local_file))
    info = next(iter(api.get_bucket_paths_info(f"{hub.user}/sink", ["w1/lineitem.parquet"])))
    assert result.size == info.size and result.xet_hash == info.xet_hash
    assert result.uri == f"hf://buckets/{hub.user}/sink/w1/lineitem.parquet"
    assert result.new_bytes > 0 and "w1/lineitem.parquet" in str(result)
    assert upload_threads() == []


def test_flights_csv_to_parquet_round_trip(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    result = hf_bucket_sink.sink_parquet(w2_pipeline(), f"hf://buckets/{hub.user}/sink/flights.parquet", storage_options=opts, compression="snappy")
    remote = read_back(api, hub, "flights.parquet", tmp_path)
    assert remote.equals(w2_pipeline().collect())
    assert remote.height == 336_776 and result.size > 0


def test_dataframe_and_polars_options_pass_through(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = pl.DataFrame({"k": list(range(10_000)), "v": [f"row {i}" for i in range(10_000)]})
    hf_bucket_sink.sink_parquet(df, f"hf://buckets/{hub.user}/sink/df.parquet", storage_options=opts, row_group_size=1000, compression="uncompressed")
    local = tmp_path / "df.parquet"
    api.download_bucket_files(f"{hub.user}/sink", [("df.parquet", str(local))])
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(local).metadata
    assert meta.num_row_groups == 10
    assert meta.row_group(0).column(0).compression == "UNCOMPRESSED"
    assert pl.read_parquet(local).equals(df)


def test_install_routes_polars_methods(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = pl.DataFrame({"a": [1, 2, 3]})
    hf_bucket_sink.install()
    try:
        hf_bucket_sink.install()  # idempotent
        df.lazy().sink_parquet(f"hf://buckets/{hub.user}/sink/installed-lazy.parquet", storage_options=opts)
        df.write_parquet(f"hf://buckets/{hub.user}/sink/installed-eager.parquet", storage_options=opts)
        # other targets still reach Polars untouched
        df.lazy().sink_parquet(tmp_path / "plain.parquet")
        assert pl.read_parquet(tmp_path / "plain.parquet").equals(df)
        with pytest.raises(UnsupportedTargetError, match="sink_parquet"):
            df.write_json(f"hf://buckets/{hub.user}/sink/x.json")
    finally:
        hf_bucket_sink.uninstall()
    assert read_back(api, hub, "installed-lazy.parquet", tmp_path).equals(df)
    assert read_back(api, hub, "installed-eager.parquet", tmp_path).equals(df)


def test_identical_resink_uploads_almost_nothing(hub: LocalHub, opts: dict[str, str], lineitem: Path) -> None:
    uri = f"hf://buckets/{hub.user}/sink/dedup.parquet"
    first = hf_bucket_sink.sink_parquet(w1_pipeline(lineitem), uri, storage_options=opts)
    second = hf_bucket_sink.sink_parquet(w1_pipeline(lineitem), uri, storage_options=opts)
    assert second.xet_hash == first.xet_hash
    assert second.new_bytes < 0.01 * second.size
    assert second.dedup_ratio > 0.99


# -- failing before the query runs ----------------------------------------------------------------


@pytest.fixture
def fresh_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A per-test hub with the module hub's buckets and principals: one case's leftovers cannot fail another."""
    with LocalHub(
        data_dir=tmp_path_factory.mktemp("hub"),
        extra_tokens=[("local", READ_TOKEN, "read"), ("other", OTHER_TOKEN, "write")],
    ) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/sink", exist_ok=True)
        HfApi(endpoint=h.url, token=OTHER_TOKEN).create_bucket("other/private", private=True)
        yield h


@pytest.mark.parametrize(
    ("storage_options", "path", "error"),
    [
        ({"token": "hf_wrong"}, "hf://buckets/local/sink/x.parquet", AuthenticationError),
        ({"token": READ_TOKEN}, "hf://buckets/local/sink/x.parquet", BucketAccessDeniedError),
        ({}, "hf://buckets/local/does-not-exist/x.parquet", BucketNotFoundError),
        ({}, "hf://buckets/other/private/x.parquet", BucketNotFoundError),
        ({"tokn": "x"}, "hf://buckets/local/sink/x.parquet", InvalidOptionError),
        ({}, "hf://buckets/local/sink/", InvalidBucketPathError),
        ({}, "hf://buckets/local/sink/../x.parquet", InvalidBucketPathError),
    ],
)
def test_errors_are_raised_before_the_query_runs(
    fresh_hub: LocalHub, storage_options: dict[str, Any], path: str, error: type[Exception]
) -> None:
    hub, api = fresh_hub, HfApi(endpoint=fresh_hub.url, token=fresh_hub.token)
    counter = Counter()
    options = {"endpoint": hub.url, "token": hub.token, **storage_options}
    with pytest.raises(error) as info:
        hf_bucket_sink.sink_parquet(counted(pl.LazyFrame({"a": [1]}), counter), path, storage_options=options)
    assert counter.batches == 0, "the query ran although the sink could have failed first"
    assert isinstance(info.value, hf_bucket_sink.BucketSinkError)
    assert "x.parquet" not in bucket_paths(api, hub)


def test_missing_token_fails_before_the_query(hub: LocalHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no token file there
    counter = Counter()
    with pytest.raises(AuthenticationError, match="HF_TOKEN"):
        hf_bucket_sink.sink_parquet(counted(pl.LazyFrame({"a": [1]}), counter), f"hf://buckets/{hub.user}/sink/x.parquet", storage_options={"endpoint": hub.url})
    assert counter.batches == 0


def test_unknown_polars_option_is_rejected(hub: LocalHub, opts: dict[str, str]) -> None:
    with pytest.raises(InvalidOptionError, match="compresion"):
        hf_bucket_sink.sink_parquet(pl.LazyFrame({"a": [1]}), f"hf://buckets/{hub.user}/sink/x.parquet", storage_options=opts, compresion="zstd")


# -- failing mid-stream: nothing registered, old version intact -------------------------------------


def _big_frame(rows: int = 2_000_000) -> pl.LazyFrame:
    return pl.LazyFrame({"a": pl.int_range(rows, eager=True)}).with_columns(b=(pl.col("a") * 7919 % 1000003).cast(pl.Utf8))


def test_query_failure_mid_stream_registers_nothing(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    uri = f"hf://buckets/{hub.user}/sink/versioned.parquet"
    v1 = pl.DataFrame({"version": [1]})
    hf_bucket_sink.sink_parquet(v1, uri, storage_options=opts)
    counter = Counter(fail_after=3)
    with pytest.raises(QueryError, match="injected failure") as info:
        hf_bucket_sink.sink_parquet(counted(_big_frame(), counter), uri, storage_options=opts)
    assert "Nothing was registered" in str(info.value)
    assert counter.batches > 3
    assert read_back(api, hub, "versioned.parquet", tmp_path).equals(v1)
    assert upload_threads() == []


def test_keyboard_interrupt_mid_upload_registers_nothing(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path, python_sigint: None) -> None:
    uri = f"hf://buckets/{hub.user}/sink/interrupted.parquet"
    v1 = pl.DataFrame({"version": [1]})
    hf_bucket_sink.sink_parquet(v1, uri, storage_options=opts)
    counter = CtrlC(after=3)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        hf_bucket_sink.sink_parquet(counted(_big_frame(), counter), uri, storage_options=opts)
    assert time.monotonic() - started < 30
    assert read_back(api, hub, "interrupted.parquet", tmp_path).equals(v1)
    assert upload_threads() == []
    # the package still works afterwards (hf_xet's runtime was rebuilt)
    hf_bucket_sink.sink_parquet(pl.DataFrame({"version": [2]}), uri, storage_options=opts)
    assert read_back(api, hub, "interrupted.parquet", tmp_path)["version"].to_list() == [2]


# -- content-defined chunking through the public API ----------------------------------------------------


def test_content_defined_chunking_round_trip(api: HfApi, hub: LocalHub, opts: dict[str, str], lineitem: Path, tmp_path: Path) -> None:
    result = hf_bucket_sink.sink_parquet(
        w1_pipeline(lineitem), f"hf://buckets/{hub.user}/sink/cdc.parquet", storage_options=opts,
        content_defined_chunking={"max_chunk_size": 128 * 1024}, compression="snappy",
    )
    remote = read_back(api, hub, "cdc.parquet", tmp_path)
    assert remote.equals(w1_pipeline(lineitem).collect())
    assert result.rows == remote.height


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda lf, uri, o: hf_bucket_sink.sink_parquet(lf, pl.PartitionBy(uri + "/dir/", key="a"), storage_options=o, content_defined_chunking=True), "PartitionBy"),
        (lambda lf, uri, o: hf_bucket_sink.sink_parquet(lf, uri + "/x.parquet", storage_options=o, content_defined_chunking=True, maintain_order=False), "maintain_order"),
        (lambda lf, uri, o: hf_bucket_sink.sink_parquet(lf, uri + "/x.parquet", storage_options=o, content_defined_chunking={"max": 1}), "'max'"),
        (lambda lf, uri, o: hf_bucket_sink.sink_csv(lf, uri + "/x.csv", storage_options=o, content_defined_chunking=True), "Parquet option"),
    ],
)
def test_content_defined_chunking_bad_combinations_fail_before_the_query(hub: LocalHub, opts: dict[str, str], call: Any, fragment: str) -> None:
    counter = Counter()
    with pytest.raises(InvalidOptionError, match=fragment):
        call(counted(pl.LazyFrame({"a": [1]}), counter), f"hf://buckets/{hub.user}/sink", opts)
    assert counter.batches == 0
