"""The ``hfbucket`` data source on local Spark against the local Hub: modes, failures, retries, preflight.

Functions of this module run inside Spark's Python workers, so the module is pickled by value.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")

from huggingface_hub import HfApi  # noqa: E402
from pyspark import cloudpickle  # noqa: E402

from hf_bucket_sink.spark import save  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _bucket(hub: Any, name: str) -> str:
    HfApi(endpoint=hub.url, token=hub.token).create_bucket(f"{hub.user}/{name}", exist_ok=True)
    return f"{hub.user}/{name}"


def _files(hub: Any, bucket: str, prefix: str = "out/") -> dict[str, str]:
    from hf_bucket_sink.core.credentials import resolve_credentials
    from hf_bucket_sink.core.hub import HubClient

    client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
    return {e["path"]: e["xetHash"] for e in client.list_tree(bucket, prefix, recursive=True) if e.get("type") != "directory"}


def _df(spark: Any, n: int = 1000, parts: int = 2, start: int = 0) -> Any:
    return spark.range(start, start + n, numPartitions=parts).selectExpr("id", "id % 3 AS k", "CAST(id AS STRING) AS s")


def _read_ids(spark: Any, hub: Any, uri: str) -> list[int]:
    """What a manifest-following reader sees (the reader path of spark.read.format("hfbucket"), run in
    this process so each check costs no Spark job; test_read_through_spark_* reads through Spark)."""
    from pyspark.sql.types import LongType, StructField, StructType

    from hf_bucket_sink.engines.spark.datasource import HFBucketDataSource

    source = HFBucketDataSource({"path": uri, "endpoint": hub.url, "token": hub.token})
    reader = source.reader(StructType([StructField("id", LongType())]))
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = hub.token  # what a task resolves (the token option stays on the driver)
    try:
        return sorted(v for p in reader.partitions() for b in reader.read(p) for v in b.column("id").to_pylist())
    finally:
        if saved is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = saved


def _spark_ids(spark: Any, hub: Any, uri: str) -> list[int]:
    rows = spark.read.format("hfbucket").option("endpoint", hub.url).load(uri).select("id").collect()
    return sorted(r.id for r in rows)


def test_round_trip_each_mode(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "modes")
    uri = f"hf://buckets/{bucket}/out/"
    ep = spark_hub.url
    _df(spark).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
    first = _files(spark_hub, bucket)
    assert len(first) == 2 and all(p.endswith(".parquet") for p in first)  # one file per partition
    assert _spark_ids(spark, spark_hub, uri) == list(range(1000))

    _df(spark, start=1000).write.format("hfbucket").mode("append").option("endpoint", ep).save(uri)
    assert len(_files(spark_hub, bucket)) == 4
    assert _read_ids(spark, spark_hub, uri) == list(range(2000))

    with pytest.raises(Exception, match="already holds files"):
        save(_df(spark), uri, mode="error", endpoint=ep)
    save(_df(spark, start=5000), uri, mode="ignore", endpoint=ep)  # exists: nothing happens
    assert len(_files(spark_hub, bucket)) == 4

    _df(spark, n=10, parts=1, start=7).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
    after = _files(spark_hub, bucket)
    assert len(after) == 1 and not set(after) & set(first)  # the old output is gone, the new one whole
    assert _read_ids(spark, spark_hub, uri) == list(range(7, 17))

    fresh = f"hf://buckets/{bucket}/fresh/"
    save(_df(spark, n=5), fresh, mode="error", endpoint=ep)
    save(_df(spark, n=3), f"hf://buckets/{bucket}/fresh2/", mode="ignore", endpoint=ep)
    assert _read_ids(spark, spark_hub, fresh) == list(range(5))
    assert len(_files(spark_hub, bucket, "fresh2/")) == 2  # ignore on an empty folder writes


def test_partition_by_option_writes_hive_directories(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "hive")
    uri = f"hf://buckets/{bucket}/out/"
    save(_df(spark, n=30), uri, mode="overwrite", endpoint=spark_hub.url, partitionBy="k", format="ndjson")
    files = _files(spark_hub, bucket)
    assert {p.split("/")[1] for p in files} == {"k=0", "k=1", "k=2"}
    assert all(p.endswith(".jsonl") for p in files)


def _explode_on_partition_1(batches: Any) -> Any:
    from pyspark import TaskContext

    for batch in batches:
        if TaskContext.get().partitionId() == 1:
            raise RuntimeError("injected task failure")
        yield batch


def test_failing_task_registers_nothing(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "failing")
    uri = f"hf://buckets/{bucket}/out/"
    _df(spark, n=100).write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).save(uri)
    before = _files(spark_hub, bucket)
    df = _df(spark, n=100, start=500).mapInArrow(_explode_on_partition_1, "id long, k long, s string")
    with pytest.raises(Exception, match="injected task failure"):  # proves the fault fired
        df.write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).save(uri)
    assert _files(spark_hub, bucket) == before
    assert _read_ids(spark, spark_hub, uri) == list(range(100))


def _fail_first_attempt(marks: str) -> Any:
    def run(batches: Any) -> Any:
        import os

        from pyspark import TaskContext

        ctx = TaskContext.get()
        yield from batches
        # a marker per attempt (local mode: one file system), to prove the first attempts ran and failed
        open(os.path.join(marks, f"p{ctx.partitionId()}-a{ctx.attemptNumber()}"), "w").close()
        if ctx.attemptNumber() == 0:
            raise RuntimeError("first attempt fails after writing its rows")

    return run


def test_retried_attempts_leave_one_file_per_partition(spark: Any, spark_hub: Any, tmp_path: Any) -> None:
    bucket = _bucket(spark_hub, "retry")
    uri = f"hf://buckets/{bucket}/out/"
    df = _df(spark, n=200).mapInArrow(_fail_first_attempt(str(tmp_path)), "id long, k long, s string")
    df.write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).save(uri)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p0-a0", "p0-a1", "p1-a0", "p1-a1"]  # retries happened
    files = _files(spark_hub, bucket)
    assert sorted(p.split("part-")[1][:5] for p in files) == ["00000", "00001"]  # one file per partition
    assert _read_ids(spark, spark_hub, uri) == list(range(200))


def test_bad_token_fails_before_any_task(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "badtoken")
    uri = f"hf://buckets/{bucket}/out/"
    acc = spark.sparkContext.accumulator(0)

    def mark(batches: Any) -> Any:
        acc.add(1)
        yield from batches

    df = _df(spark, n=10).mapInArrow(mark, "id long, k long, s string")
    with pytest.raises(Exception, match="(?i)token|authenticat"):
        df.write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).option("token", "hf_bad").save(uri)
    assert acc.value == 0
    assert _files(spark_hub, bucket) == {}
    # the same job with a good token runs its tasks: the accumulator would have seen them
    df.write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).save(uri)
    assert acc.value == 2


def test_read_through_spark_prunes_hive_folders_and_filters_rows(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "readhive")
    uri = f"hf://buckets/{bucket}/out/"
    save(_df(spark, n=60), uri, mode="overwrite", endpoint=spark_hub.url, partitionBy="k")
    df = spark.read.format("hfbucket").option("endpoint", spark_hub.url).load(uri)
    assert df.schema.simpleString() == "struct<id:bigint,s:string,k:bigint>"  # k from the k=<v>/ folders
    picked = df.where("k = 1 AND id >= 30")
    # the filter reached the reader: only the k=1 files are input partitions (one per writing task)
    k1_files = [p for p in _files(spark_hub, bucket) if "/k=1/" in p]
    assert picked.rdd.getNumPartitions() == len(k1_files) == 2
    assert sorted((r.id, r.k) for r in picked.collect()) == [(i, 1) for i in range(30, 60) if i % 3 == 1]


def _manifest_paths(hub: Any, bucket: str) -> set[str]:
    from hf_bucket_sink.core.credentials import resolve_credentials
    from hf_bucket_sink.core.hub import HubClient
    from hf_bucket_sink.core.manifest import read_manifest

    m = read_manifest(HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url})), bucket, "out/")
    assert m is not None
    return set(m.paths)


# (request the fault hits, lines of it applied, answer, the write fails?) for an overwrite of a 2-file
# output by a 2-file output: request 0 = the data lines, 1 = the manifest (the commit point), 2 = the
# retirements of the previous files. "report" = HTTP 200 naming the withheld lines as failed (no retry).
BOUNDARIES = [
    (0, 1, "report", True),   # half the data registered: taken back, the old output stays the committed one
    (1, 0, "report", True),   # data registered, commit point refused: taken back, old output whole
    (1, 1, "drop", False),    # commit point applied, answer lost: confirmed by paths-info, the new output whole
    (2, 0, "report", False),  # committed; the old files could not be retired yet: listed in the manifest
]


def test_a_driver_commit_failing_at_each_batch_boundary_leaves_one_output_whole(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "boundaries")
    uri = f"hf://buckets/{bucket}/out/"
    ep = spark_hub.url
    version = 0
    _df(spark, n=20).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
    for request, keep, answer, fails in BOUNDARIES:
        old = _manifest_paths(spark_hub, bucket)
        before = spark_hub.stats()["faults"]["injected"].get("partial_batches", 0)
        spark_hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "after": request, "times": 1}})
        new_start = (version + 1) * 100
        try:
            if fails:
                with pytest.raises(Exception, match="Run the same write again"):
                    _df(spark, n=20, start=new_start).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
            else:
                _df(spark, n=20, start=new_start).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
        finally:
            spark_hub.set_faults({})
        assert spark_hub.stats()["faults"]["injected"].get("partial_batches", 0) == before + 1  # the fault fired
        listed = set(_files(spark_hub, bucket))
        if fails:
            # the commit point was not passed: the previous output is the committed one, whole, and the
            # new paths registered before the failure were taken back
            assert _manifest_paths(spark_hub, bucket) == old and listed == old
            assert _read_ids(spark, spark_hub, uri) == list(range(version * 100, version * 100 + 20))
            # a rerun of the same write completes it
            _df(spark, n=20, start=new_start).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
        else:
            assert _manifest_paths(spark_hub, bucket) != old
        version += 1
        now = _manifest_paths(spark_hub, bucket)
        assert now.isdisjoint(old) and _read_ids(spark, spark_hub, uri) == list(range(version * 100, version * 100 + 20))
        if request == 2:  # the retirement failed: the old files are still listed until the next write
            assert listed == now | old
        else:
            assert set(_files(spark_hub, bucket)) == now
    # the write after a failed retirement retires what it left
    _df(spark, n=5).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
    assert set(_files(spark_hub, bucket)) == _manifest_paths(spark_hub, bucket)
