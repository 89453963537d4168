"""The ``hfbucket`` data source on local Spark against the local Hub: modes, failures, retries, preflight.

Functions of this module run inside Spark's Python workers, so the module is pickled by value.
"""

from __future__ import annotations

import json
import sys
import urllib.request
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
    rows = spark.read.format("hfbucket").option("endpoint", hub.url).load(uri).select("id").collect()
    return sorted(r.id for r in rows)


def test_round_trip_each_mode(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "modes")
    uri = f"hf://buckets/{bucket}/out/"
    ep = spark_hub.url
    _df(spark).write.format("hfbucket").mode("overwrite").option("endpoint", ep).save(uri)
    first = _files(spark_hub, bucket)
    assert len(first) == 2 and all(p.endswith(".parquet") for p in first)  # one file per partition
    assert _read_ids(spark, spark_hub, uri) == list(range(1000))

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


def _fault_hub_api_when_done(endpoint: str) -> Any:
    def run(batches: Any) -> Any:
        yield from batches
        body = json.dumps({"rules": {"hub_api": {"error_rate": 1.0, "status": 500}}}).encode()
        req = urllib.request.Request(f"{endpoint}/_localhub/faults", data=body, method="PUT")
        urllib.request.urlopen(req, timeout=10).read()

    return run


def test_failing_driver_commit_leaves_the_old_output_whole(spark: Any, spark_hub: Any) -> None:
    bucket = _bucket(spark_hub, "commitfail")
    uri = f"hf://buckets/{bucket}/out/"
    _df(spark, n=50).write.format("hfbucket").mode("overwrite").option("endpoint", spark_hub.url).save(uri)
    before = _files(spark_hub, bucket)
    df = _df(spark, n=50, start=100).mapInArrow(_fault_hub_api_when_done(spark_hub.url), "id long, k long, s string")
    try:
        with pytest.raises(Exception, match="(?i)commit|500|register"):
            df.write.format("hfbucket").mode("append").option("endpoint", spark_hub.url).save(uri)
        assert spark_hub.faults.snapshot()["injected"].get("errors:hub_api", 0) >= 1  # the fault fired
    finally:
        spark_hub.faults.clear()
    assert _files(spark_hub, bucket) == before
    assert _read_ids(spark, spark_hub, uri) == list(range(50))
