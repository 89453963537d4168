"""The ``hfbucket`` reader without a JVM: the planner and the task-side read called in this process.

Spark calls exactly these methods (``schema()``, ``reader()``, ``pushFilters()``, ``partitions()``
on the driver, ``read(partition)`` in tasks); tests/spark/test_datasource.py runs them through Spark.
The outputs are written by the data source's own writer, also in process (one task = one ``write``).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyspark")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402
from pyspark.sql import datasource as d  # noqa: E402
from pyspark.sql.pandas.types import from_arrow_schema  # noqa: E402

from hf_bucket_sink.core.credentials import resolve_credentials  # noqa: E402
from hf_bucket_sink.core.hub import HubClient  # noqa: E402
from hf_bucket_sink.engines.spark.datasource import BucketFilteringReader, HFBucketDataSource  # noqa: E402


@pytest.fixture
def hub(local_hub: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HF_TOKEN", local_hub.token)  # what a task resolves (tasks never get the token option)
    HfApi(endpoint=local_hub.url, token=local_hub.token).create_bucket(f"{local_hub.user}/r")
    return local_hub


def _uri(hub: Any, name: str) -> str:
    return f"hf://buckets/{hub.user}/r/{name}/"


def _write(hub: Any, uri: str, table: pa.Table, **options: str) -> Any:
    """One in-process task and the driver's commit (overwrite)."""
    source = HFBucketDataSource({"path": uri, "endpoint": hub.url, **options})
    writer = source.writer(from_arrow_schema(table.schema), True)
    message = writer.write(iter(table.to_batches(max_chunksize=100)))
    writer.commit([message])
    return writer


def _source(hub: Any, uri: str, **options: str) -> HFBucketDataSource:
    return HFBucketDataSource({"path": uri, "endpoint": hub.url, **options})


def _read_all(reader: Any) -> pa.Table:
    batches = [b for p in reader.partitions() for b in reader.read(p)]
    return pa.Table.from_batches(batches) if batches else pa.table({})


def _table(n: int, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "k": pa.array([i % 3 for i in ids], pa.int64()),
        "s": pa.array([None if i % 7 == 0 else f"s{i}" for i in ids], pa.string()),
        "x": pa.array([i / 2 for i in ids], pa.float64()),
    })


def test_hive_folders_become_typed_columns(hub: Any) -> None:
    uri = _uri(hub, "hive")
    _write(hub, uri, _table(30), partitionBy="k")
    source = _source(hub, uri)
    schema = source.schema()
    assert schema.simpleString() == "struct<id:bigint,s:string,x:double,k:bigint>"
    got = _read_all(source.reader(schema)).sort_by("id")
    assert got.column("id").to_pylist() == list(range(30))
    assert got.column("k").to_pylist() == [i % 3 for i in range(30)]  # read back from k=<v>/ folders


def test_a_filter_on_a_hive_column_drops_whole_files(hub: Any) -> None:
    uri = _uri(hub, "hivefilter")
    _write(hub, uri, _table(30), partitionBy="k")
    source = _source(hub, uri)
    reader = source.reader(source.schema())
    assert isinstance(reader, BucketFilteringReader)
    on_k, on_x = d.EqualTo(("k",), 1), d.GreaterThan(("x",), 3.0)
    assert list(reader.pushFilters([on_k, on_x])) == [on_x]  # floats: Spark evaluates them (NaN rules differ)
    parts = reader.partitions()
    assert [p.path.split("/")[-2] for p in parts] == ["k=1"]  # one file planned out of three
    got = _read_all(reader)
    assert sorted(got.column("id").to_pylist()) == [i for i in range(30) if i % 3 == 1]


def test_a_filter_on_a_file_column_prunes_row_groups_and_keeps_exactly_the_matching_rows(
    hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = _uri(hub, "prune")
    _write(hub, uri, _table(1000), row_group_size="100")  # ids sorted: row group i holds ids [100 i, 100 i + 100)
    source = _source(hub, uri)
    reader = source.reader(source.schema())
    filters = [d.GreaterThanOrEqual(("id",), 930), d.Not(d.EqualTo(("id",), 950)), d.IsNotNull(("s",))]
    assert list(reader.pushFilters(filters)) == []
    fetched: list[int] = []
    real = pq.ParquetFile.read_row_group

    def spy(self: Any, i: int, *args: Any, **kwargs: Any) -> Any:
        fetched.append(i)
        return real(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    got = _read_all(reader)
    assert fetched == [9]  # the footer's statistics ruled out row groups 0-8
    assert got.column("id").to_pylist() == [i for i in range(930, 1000) if i != 950 and i % 7 != 0]


@pytest.mark.parametrize(
    ("flt", "keep"),
    [
        (d.In(("k",), (0, 2)), lambda r: r["k"] in (0, 2)),
        (d.IsNull(("s",)), lambda r: r["s"] is None),
        (d.Not(d.EqualTo(("s",), "s1")), lambda r: r["s"] is not None and r["s"] != "s1"),  # NULL <> 's1' is not true
        (d.LessThan(("s",), "s2"), lambda r: r["s"] is not None and r["s"] < "s2"),
    ],
)
def test_pushed_filters_keep_the_rows_spark_would(hub: Any, flt: Any, keep: Any) -> None:
    uri = _uri(hub, "semantics")
    table = _table(50)
    _write(hub, uri, table)
    source = _source(hub, uri)
    reader = source.reader(source.schema())
    assert list(reader.pushFilters([flt])) == []
    got = _read_all(reader).sort_by("id").to_pylist()
    assert got == [r for r in table.to_pylist() if keep(r)]


def test_a_large_file_is_split_by_row_groups_each_read_once(hub: Any) -> None:
    uri = _uri(hub, "split")
    _write(hub, uri, _table(2000), row_group_size="100")
    source = _source(hub, uri, split_size="4096")
    reader = source.reader(source.schema())
    parts = reader.partitions()
    assert len(parts) > 2 and {p.path for p in parts} == {parts[0].path}  # one file, several input partitions
    counts = [sum(b.num_rows for b in reader.read(p)) for p in parts]
    assert sum(counts) == 2000 and sum(1 for c in counts if c) > 1
    ids = _read_all(reader).column("id").to_pylist()
    assert sorted(ids) == list(range(2000))  # no row group read twice, none skipped


def test_a_read_planned_before_an_overwrite_reads_that_version_whole(hub: Any) -> None:
    uri = _uri(hub, "pinned")
    _write(hub, uri, _table(40))
    source = _source(hub, uri)
    reader = source.reader(source.schema())  # planned: the manifest's files at their hashes
    planned = reader.partitions()
    second = _write(hub, uri, _table(40, start=1000))  # overwrite: the old files are retired after its commit point
    assert second.report is not None and second.report.retired  # the planned paths are gone from the bucket
    client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
    assert not client.paths_info(f"{hub.user}/r", [p.path for p in planned])
    got = pa.Table.from_batches([b for p in planned for b in reader.read(p)])
    assert sorted(got.column("id").to_pylist()) == list(range(40))  # the old version, whole, by hash
    fresh = _read_all(_source(hub, uri).reader(source.schema()))
    assert sorted(fresh.column("id").to_pylist()) == list(range(1000, 1040))


def test_pushdown_can_be_switched_off(hub: Any) -> None:
    uri = _uri(hub, "nopush")
    _write(hub, uri, _table(10))
    source = _source(hub, uri, pushFilters="false")
    reader = source.reader(source.schema())
    assert not isinstance(reader, BucketFilteringReader)  # Spark refuses a pushFilters reader when its conf is off


def test_a_column_stored_in_the_file_wins_over_its_folder_name(hub: Any) -> None:
    import io

    sink = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "k": pa.array([5, 5], pa.int64())}), sink)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.batch_bucket_files(f"{hub.user}/r", add=[(sink.getvalue(), "coll/k=1/f.parquet")])  # a folder that disagrees
    source = _source(hub, _uri(hub, "coll"))
    schema = source.schema()
    assert schema.simpleString() == "struct<id:bigint,k:bigint>"  # one k: the file's
    assert _read_all(source.reader(schema)).to_pylist() == [{"id": 1, "k": 5}, {"id": 2, "k": 5}]
    reader = source.reader(schema)
    assert list(reader.pushFilters([d.EqualTo(("k",), 5)])) == []  # a row filter, not a folder filter
    assert _read_all(reader).to_pylist() == [{"id": 1, "k": 5}, {"id": 2, "k": 5}]
