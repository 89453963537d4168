"""The read path against the local Hub: round trips, folders and globs, errors, install(), pushdown.

Files are put in the bucket with the official client (``batch_bucket_files``) or with our own
sink, then read back through ``hf_bucket_sink.scan_*`` / ``read_*`` and through ``pl.*`` after
``install()``. Pushdown is measured with the Hub's own counter of bytes served by ``resolve``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import (
    AuthenticationError,
    BucketFileNotFoundError,
    BucketNotFoundError,
    InvalidBucketPathError,
    InvalidOptionError,
)
from hf_bucket_sink.localhub import LocalHub

OTHER_TOKEN = "hf_scan_other_user_token"
FORMATS = ("parquet", "csv", "ndjson", "ipc")
ROWS_PER_GROUP = 100_000


def encode(df: pl.DataFrame, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    getattr(df, f"write_{fmt}")(buffer, **options)
    return buffer.getvalue()


def sample(n: int = 1_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.int_range(n, eager=True),
            "name": [f"row {i}" for i in range(n)],
            "x": [i / 7 for i in range(n)],
            "flag": [i % 3 == 0 for i in range(n)],
        }
    )


def wide(rows: int = 4 * ROWS_PER_GROUP) -> pl.DataFrame:
    rng = np.random.default_rng(0)  # random floats do not compress: column sizes are predictable
    return pl.DataFrame({"id": np.arange(rows), **{f"c{i}": rng.random(rows) for i in range(6)}})


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub"), extra_tokens=[("other", OTHER_TOKEN, "write")]) as h:
        api = HfApi(endpoint=h.url, token=h.token)
        api.create_bucket(f"{h.user}/scan")
        df = sample()
        files: list[tuple[bytes, str]] = [(encode(df, fmt), f"single/data.{fmt}") for fmt in FORMATS]
        for k in (1, 2, 3):
            part = df.filter(pl.col("id") % 3 == k - 1)
            files += [(encode(part, "parquet"), f"hive/k={k}/part.parquet"), (encode(part, "csv"), f"hivecsv/k={k}/part.csv")]
        files += [(b'{"files": ["k=1/part.parquet"]}', "hive/_manifest.json"), (b"# notes", "hive/README.md")]
        files.append((encode(wide(), "parquet", row_group_size=ROWS_PER_GROUP, statistics=True), "wide.parquet"))
        api.batch_bucket_files(f"{h.user}/scan", add=files)
        other = HfApi(endpoint=h.url, token=OTHER_TOKEN)
        other.create_bucket("other/private", private=True)
        other.batch_bucket_files("other/private", add=[(encode(df, "parquet"), "secret.parquet")])
        yield h


@pytest.fixture
def uri(hub: LocalHub) -> Callable[[str], str]:
    return lambda path: f"hf://buckets/{hub.user}/scan/{path}"


def resolve_bytes(hub: LocalHub) -> int:
    return int(hub.stats()["resolve_bytes_sent"])


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_as_polars_reads_the_same_bytes(fmt: str, uri: Callable[[str], str], opts: dict[str, str]) -> None:
    expected = getattr(pl, f"read_{fmt}")(io.BytesIO(encode(sample(), fmt)))
    lazy = getattr(hf_bucket_sink, f"scan_{fmt}")(uri(f"single/data.{fmt}"), storage_options=opts)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(expected)
    assert lazy.collect(engine="streaming").equals(expected)
    eager = getattr(hf_bucket_sink, f"read_{fmt}")(uri(f"single/data.{fmt}"), storage_options=opts, columns=["name", "id"])
    assert eager.equals(expected.select("name", "id"))


def test_what_sink_parquet_writes_reads_back_equal(hub: LocalHub, uri: Callable[[str], str], opts: dict[str, str]) -> None:
    df = sample(5_000).with_columns(pl.col("x").cast(pl.Float32), day=pl.date(2024, 1, 1) + pl.duration(days=pl.col("id") % 30))
    hf_bucket_sink.sink_parquet(df.lazy(), uri("sunk/out.parquet"), storage_options=opts)
    assert hf_bucket_sink.scan_parquet(uri("sunk/out.parquet"), storage_options=opts).collect().equals(df)
    assert hf_bucket_sink.scan_parquet(uri("sunk/"), storage_options=opts).collect().equals(df)


@pytest.mark.parametrize("fmt", FORMATS)
def test_partitioned_sink_outputs_read_back_equal(fmt: str, uri: Callable[[str], str], opts: dict[str, str]) -> None:
    df = sample(3_000).with_columns(lang=pl.col("id") % 3)
    sink = getattr(hf_bucket_sink, f"sink_{fmt}")
    sink(df.lazy(), pl.PartitionBy(uri(f"parted-{fmt}/"), key="lang"), storage_options=opts, manifest=True)
    got = getattr(hf_bucket_sink, f"scan_{fmt}")(uri(f"parted-{fmt}/"), storage_options=opts).collect()  # _manifest.json skipped
    expected = getattr(pl, f"read_{fmt}")(io.BytesIO(encode(df, fmt)))  # what Polars itself reads back from this format
    assert got.select(expected.columns).sort("id").equals(expected.sort("id"))


def test_polars_options_pass_through(uri: Callable[[str], str], opts: dict[str, str]) -> None:
    got = hf_bucket_sink.scan_parquet(uri("single/data.parquet"), storage_options=opts, n_rows=3, row_index_name="i").collect()
    assert got["i"].to_list() == [0, 1, 2] and got["id"].to_list() == [0, 1, 2]
    csv = hf_bucket_sink.scan_csv(uri("single/data.csv"), storage_options=opts, schema_overrides={"id": pl.Int32}, n_rows=5)
    assert csv.collect_schema()["id"] == pl.Int32 and csv.collect().height == 5
    assert hf_bucket_sink.scan_parquet(uri("single/data.parquet"), storage_options=opts, missing_columns="insert").collect().height == 1_000
    with pytest.raises(InvalidOptionError, match="decryption"):  # a Polars option bucket scans do not take
        hf_bucket_sink.scan_parquet(uri("single/data.parquet"), storage_options=opts, decryption=object())


# --- folders, globs, hive --------------------------------------------------------------------------


def test_hive_glob_with_a_filter_on_the_key_reads_one_partition(hub: LocalHub, uri: Callable[[str], str], opts: dict[str, str]) -> None:
    lf = hf_bucket_sink.scan_parquet(uri("hive/**/*.parquet"), storage_options=opts, hive_partitioning=True)
    assert lf.collect_schema() == pl.Schema({"id": pl.Int64, "name": pl.String, "x": pl.Float64, "flag": pl.Boolean, "k": pl.Int64})
    before = resolve_bytes(hub)
    got = lf.filter(pl.col("k") == 2).collect()
    fetched = resolve_bytes(hub) - before
    expected = sample().filter(pl.col("id") % 3 == 1).with_columns(k=pl.lit(2, pl.Int64))
    assert got.sort("id").equals(expected)
    # each collect lists again and reads the first file's footer for the schema (these test files are
    # smaller than one 64 KiB footer read, so that is the whole first file); the other partitions: nothing
    partition = max(len(encode(sample().filter(pl.col("id") % 3 == r), "parquet")) for r in range(3))
    assert fetched <= 2 * partition


def test_a_folder_is_hive_partitioned_and_skips_hidden_and_foreign_files(uri: Callable[[str], str], opts: dict[str, str]) -> None:
    got = hf_bucket_sink.scan_parquet(uri("hive/"), storage_options=opts).collect()  # _manifest.json, README.md skipped
    assert got.height == 1_000 and got.columns[-1] == "k"
    same = hf_bucket_sink.scan_parquet(uri("hive"), storage_options=opts).collect()  # no trailing slash
    assert same.sort("id").equals(got.sort("id"))
    csv = hf_bucket_sink.scan_csv(uri("hivecsv"), storage_options=opts, include_file_paths="file").filter(pl.col("k") == 3).collect()
    assert csv.height == 333 and set(csv["file"]) == {uri("hivecsv/k=3/part.csv")}


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["single/missing.parquet", "nowhere/**/*.parquet", "single/*.orc", "empty-folder/"])
def test_missing_file_or_empty_glob_is_a_file_not_found_error(path: str, uri: Callable[[str], str], opts: dict[str, str]) -> None:
    lf = hf_bucket_sink.scan_parquet(uri(path), storage_options=opts)  # lazy: nothing listed yet
    # found while Polars plans, yet the typed class itself (a FileNotFoundError), not Polars' ComputeError
    with pytest.raises(BucketFileNotFoundError, match="hf buckets ls") as caught:
        lf.collect()
    assert isinstance(caught.value, FileNotFoundError)
    assert isinstance(caught.value.__cause__, pl.exceptions.ComputeError)  # Polars' wrapper kept as the cause
    with pytest.raises(BucketFileNotFoundError):
        lf.select(pl.len()).collect_schema()


def test_private_bucket_of_another_user_looks_missing(opts: dict[str, str]) -> None:
    # The Hub answers 404 for a private bucket the token cannot see (it does not reveal that it exists),
    # so the error is BucketNotFoundError, a FileNotFoundError, and its message names the token as a cause.
    lf = hf_bucket_sink.scan_parquet("hf://buckets/other/private/secret.parquet", storage_options=opts)
    with pytest.raises(BucketNotFoundError, match="cannot see it"):
        lf.group_by("a").len().collect()  # group_by gives a plain LazyFrame: still the typed class


def test_bad_token_and_bad_path_fail_before_any_read(hub: LocalHub, uri: Callable[[str], str]) -> None:
    lf = hf_bucket_sink.scan_parquet(uri("single/data.parquet"), storage_options={"token": "hf_wrong", "endpoint": hub.url})
    with pytest.raises(AuthenticationError):
        lf.collect()
    with pytest.raises(AuthenticationError):
        pl.collect_all([lf])
    with pytest.raises(InvalidBucketPathError):
        hf_bucket_sink.scan_csv("hf://buckets/only-namespace", storage_options={"endpoint": hub.url})


# --- install() and the environment -----------------------------------------------------------------


def test_install_routes_polars_readers_and_leaves_other_sources_alone(
    uri: Callable[[str], str], opts: dict[str, str], tmp_path: Any
) -> None:
    local = tmp_path / "local.csv"
    sample(10).write_csv(local)
    hf_bucket_sink.install()
    try:
        assert pl.scan_parquet(uri("single/data.parquet"), storage_options=opts).collect().equals(sample())
        assert pl.read_ipc(uri("single/data.ipc"), storage_options=opts).equals(sample())
        assert pl.read_ndjson(uri("single/data.ndjson"), storage_options=opts).height == 1_000
        assert pl.scan_csv([uri("single/data.csv")], storage_options=opts).collect().height == 1_000
        assert pl.read_csv(local).equals(sample(10))  # untouched
    finally:
        hf_bucket_sink.uninstall()
    assert not hasattr(pl.scan_parquet, "__hf_bucket_sink_original__")


def test_hf_endpoint_and_hf_token_are_read_at_call_time(hub: LocalHub, uri: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert hf_bucket_sink.read_parquet(uri("single/data.parquet"), columns=["id"]).height == 1_000


# --- pushdown, measured -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_metadata() -> pq.FileMetaData:
    return pq.ParquetFile(io.BytesIO(encode(wide(), "parquet", row_group_size=ROWS_PER_GROUP, statistics=True))).metadata


def footer_cost(meta: pq.FileMetaData) -> int:
    # pyarrow reads the file's last 64 KiB in one request to get the footer (Thrift metadata + 8 bytes)
    return max(meta.serialized_size + 8, 64 * 1024)


def test_one_column_fetches_that_column_and_the_footer(
    hub: LocalHub, uri: Callable[[str], str], opts: dict[str, str], wide_metadata: pq.FileMetaData
) -> None:
    meta = wide_metadata
    column = sum(meta.row_group(r).column(3).total_compressed_size for r in range(meta.num_row_groups))
    file_size = hub_file_size(hub, "wide.parquet")
    before = resolve_bytes(hub)
    got = hf_bucket_sink.scan_parquet(uri("wide.parquet"), storage_options=opts).select("c2").collect()
    fetched = resolve_bytes(hub) - before
    print(f"\none column: fetched {fetched} B of a {file_size} B file; column {column} B, footer {meta.serialized_size} B")
    assert got.height == 4 * ROWS_PER_GROUP
    assert fetched <= 1.3 * column + footer_cost(meta)


def test_a_filter_on_statistics_fetches_one_row_group(
    hub: LocalHub, uri: Callable[[str], str], opts: dict[str, str], wide_metadata: pq.FileMetaData
) -> None:
    meta = wide_metadata
    # the row group as stored: from its first page to the next group's first page (this counts the
    # page headers, which Polars leaves out of total_compressed_size)
    group = group_start(meta, 3) - group_start(meta, 2)
    file_size = hub_file_size(hub, "wide.parquet")
    lo = 2 * ROWS_PER_GROUP
    before = resolve_bytes(hub)
    got = hf_bucket_sink.scan_parquet(uri("wide.parquet"), storage_options=opts).filter(
        (pl.col("id") >= lo + 10) & (pl.col("id") < lo + 20)
    ).collect()
    fetched = resolve_bytes(hub) - before
    print(f"\none row group: fetched {fetched} B of a {file_size} B file; row group {group} B, footer {meta.serialized_size} B")
    assert got["id"].to_list() == list(range(lo + 10, lo + 20))
    assert fetched <= group + footer_cost(meta)


def hub_file_size(hub: LocalHub, path: str) -> int:
    api = HfApi(endpoint=hub.url, token=hub.token)
    return next(f.size for f in api.list_bucket_tree(f"{hub.user}/scan", recursive=True) if f.path == path)


def group_start(meta: pq.FileMetaData, index: int) -> int:
    columns = [meta.row_group(index).column(c) for c in range(meta.num_columns)]
    return min(c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns)
