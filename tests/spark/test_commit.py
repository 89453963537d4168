"""The writer's task/driver contract without a JVM: Spark's callbacks called in this process.

Spark calls ``DataSource.writer()`` (the preflight, driver), ``write()`` once per task attempt and
``commit(messages)`` / ``abort(messages)`` on the driver; these tests call them the same way, with
the task's identity set as Spark's worker sets it (``TaskContext._setTaskContext``). The same paths
run through Spark in tests/spark/test_datasource.py; here each case takes a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark")

import pyarrow as pa  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402
from pyspark import TaskContext  # noqa: E402
from pyspark.sql.pandas.types import from_arrow_schema  # noqa: E402

from hf_bucket_sink.core.credentials import resolve_credentials  # noqa: E402
from hf_bucket_sink.core.hub import HubClient  # noqa: E402
from hf_bucket_sink.engines.spark.datasource import HFBucketDataSource  # noqa: E402
from hf_bucket_sink.errors import AuthenticationError, BucketFileExistsError  # noqa: E402

READ_TOKEN = "hf_local_read_token"  # the read-only token of the local_hub fixture (tests/conftest.py)

TABLE = pa.table({"id": pa.array(range(50), pa.int64()), "s": pa.array([f"v{i}" for i in range(50)])})
SCHEMA = from_arrow_schema(TABLE.schema)


@pytest.fixture
def hub(local_hub: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    HfApi(endpoint=local_hub.url, token=local_hub.token).create_bucket(f"{local_hub.user}/c")
    return local_hub


@pytest.fixture
def task() -> Iterator[Any]:
    """``task(partition, attempt)``: the TaskContext a Spark worker sets before calling ``write()``."""

    def set_task(partition: int, attempt: int) -> None:
        ctx = TaskContext()
        ctx._partitionId, ctx._attemptNumber = partition, attempt
        TaskContext._setTaskContext(ctx)

    yield set_task
    TaskContext._setTaskContext(None)


def _source(hub: Any, name: str, **options: str) -> HFBucketDataSource:
    return HFBucketDataSource({"path": f"hf://buckets/{hub.user}/c/{name}/", "endpoint": hub.url, **options})


def _listed(hub: Any, prefix: str) -> dict[str, str]:
    client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
    return {str(e["path"]): str(e["xetHash"]) for e in client.list_tree(f"{hub.user}/c", prefix, recursive=True)
            if e.get("type") != "directory"}


def _batches(start: int = 0) -> Iterator[Any]:
    return iter(pa.table({"id": pa.array(range(start, start + 50), pa.int64()), "s": TABLE["s"]}).to_batches())


def test_abort_registers_nothing(hub: Any, task: Any) -> None:
    writer = _source(hub, "aborted").writer(SCHEMA, True)
    task(0, 0)
    done = writer.write(_batches())  # a finished task: its files are stored in Xet, not registered
    assert done.files and not _listed(hub, "")
    writer.abort([done, None])  # Spark: the other task failed (None: no message)
    assert _listed(hub, "") == {}


def test_two_attempts_of_one_partition_leave_one_file(hub: Any, task: Any) -> None:
    writer = _source(hub, "attempts").writer(SCHEMA, True)
    task(0, 0)
    first = writer.write(_batches())
    task(0, 1)  # a retried or speculative attempt of the same partition, finishing too
    second = writer.write(_batches())
    task(1, 0)
    other = writer.write(_batches(100))
    assert [f.path for f in first.files] == [f.path for f in second.files]  # names never depend on the attempt
    writer.commit([first, second, other])
    listed = _listed(hub, "attempts/")
    assert len(listed) == 2 and sorted(p.split("part-")[1][:5] for p in listed) == ["00000", "00001"]


def test_preflight_refuses_a_read_only_token_before_any_task(hub: Any) -> None:
    source = _source(hub, "readonly", token=READ_TOKEN)
    with pytest.raises(AuthenticationError):  # a token that can list but not write: refused on the driver
        source.writer(SCHEMA, True)


def test_preflight_refuses_an_existing_output_in_error_mode(hub: Any, task: Any) -> None:
    first = _source(hub, "exists").writer(SCHEMA, True)
    task(0, 0)
    first.commit([first.write(_batches())])
    with pytest.raises(BucketFileExistsError, match="no task ran"):
        _source(hub, "exists", if_exists="error").writer(SCHEMA, False)
    ignored = _source(hub, "exists", if_exists="ignore").writer(SCHEMA, False)
    before = _listed(hub, "exists/")
    ignored.commit([ignored.write(_batches(500))])
    assert _listed(hub, "exists/") == before
