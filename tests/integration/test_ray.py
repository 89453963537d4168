"""``hf_bucket_sink.ray`` on a local Ray cluster (2 CPUs, usage stats off) against the local Hub.

One Ray cluster and one Hub for the module (starting Ray costs ~5 s); each test writes under its
own folder. Ray workers get ``HF_TOKEN`` / ``HF_ENDPOINT`` through ``runtime_env`` - the datasink
never ships the token - while the driver passes ``storage_options``. Functions and classes of this
module run inside workers, so the module is pickled by value (workers cannot import tests/).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import pyarrow as pa  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402

from hf_bucket_sink import AuthenticationError, BucketFileExistsError  # noqa: E402
from hf_bucket_sink.localhub import LocalHub  # noqa: E402
from hf_bucket_sink.ray import BucketDatasink, read_bucket  # noqa: E402

BUCKET = "ray"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}", exist_ok=True)
        yield h


@pytest.fixture(scope="module")
def cluster(hub: LocalHub) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a throwaway local cluster: no token file under ~/.ray
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"HF_TOKEN": hub.token, "HF_ENDPOINT": hub.url, "RAY_USAGE_STATS_ENABLED": "0"}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def uri(hub: LocalHub, folder: str) -> str:
    return f"hf://buckets/{hub.user}/{BUCKET}/{folder}/"


def listed(hub: LocalHub, folder: str) -> dict[str, Any]:
    api = HfApi(endpoint=hub.url, token=hub.token)
    return {f.path: f for f in api.list_bucket_tree(f"{hub.user}/{BUCKET}", prefix=folder + "/", recursive=True) if hasattr(f, "size")}


def source_tables(parts: int = 4, rows: int = 5_000) -> list[pa.Table]:
    frames = []
    for p in range(parts):
        ids = pl.int_range(p * rows, (p + 1) * rows, eager=True).alias("id")
        frames.append(
            pl.DataFrame(ids).with_columns(
                text=pl.format("row {} of part {}", pl.col("id"), pl.lit(p)),
                score=(pl.col("id") * 7 % 101).cast(pl.Float64) / 4,
            ).to_arrow()
        )
    return frames


def as_frame(ds: Any) -> pl.DataFrame:
    tables = ray.get(ds.to_arrow_refs())
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="permissive"))
    assert isinstance(frame, pl.DataFrame)
    return frame.select(pl.col("id").cast(pl.Int64), "text", pl.col("score").cast(pl.Float64)).sort("id")


def expected(tables: list[pa.Table]) -> pl.DataFrame:
    frame = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(frame, pl.DataFrame)
    return frame.sort("id")


# -- round trips ---------------------------------------------------------------------------------------


def test_parquet_multi_task_round_trip_with_manifest(cluster: None, hub: LocalHub, opts: dict[str, str]) -> None:
    tables = source_tables()
    sink = BucketDatasink(uri(hub, "pq"), format="parquet", storage_options=opts, manifest=True)
    ray.data.from_arrow(tables).write_datasink(sink)

    result = sink.result
    assert result is not None and result.rows == 20_000
    assert len(sink.tasks) == 4 and len(result.files) == 4  # one task per block, one file each
    assert len({t.pid for t in sink.tasks}) <= 2 and all(t.peak_rss_bytes > 0 for t in sink.tasks)
    files = listed(hub, "pq")
    names = {f.uri.rsplit("/", 1)[1] for f in result.files}
    assert set(files) == {f"pq/{n}" for n in names}  # the commit point lives beside the folder
    for f in result.files:
        assert files[f.uri.split(f"/{BUCKET}/", 1)[1]].size == f.size

    manifest = read_manifest(hub, "pq")
    assert manifest["file_count"] == 4 and manifest["total_rows"] == 20_000 and manifest["format"] == "parquet"
    assert [m["path"] for m in manifest["files"]] == sorted(names)
    assert [c["name"] for c in manifest["schema"]] == ["id", "text", "score"]

    back = read_bucket(uri(hub, "pq"), format="parquet", storage_options=opts)
    assert as_frame(back).equals(expected(tables))


def read_manifest(hub: LocalHub, folder: str) -> dict[str, Any]:
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{hub.url}/buckets/{hub.user}/{BUCKET}/resolve/_{folder}.manifest.json",
        headers={"Authorization": f"Bearer {hub.token}"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_ndjson_round_trip_several_files_per_task(cluster: None, hub: LocalHub, opts: dict[str, str]) -> None:
    tables = source_tables(parts=3)
    # a 5,000-row block is ~265 KB of NDJSON, encoded 4,096 rows (~215 KB) at a time: 2 files per task
    sink = BucketDatasink(uri(hub, "nd"), format="ndjson", storage_options=opts, target_bytes_per_file=100_000)
    ray.data.from_arrow(tables).write_datasink(sink)

    result = sink.result
    assert result is not None and result.rows == 15_000 and result.manifest is not None  # every output has a commit point
    assert len(result.files) == 6 and all(f.uri.endswith(".jsonl") for f in result.files)
    assert sorted(f.rows for f in result.files) == [904] * 3 + [4_096] * 3
    assert set(listed(hub, "nd")) == {f.uri.split(f"/{BUCKET}/", 1)[1] for f in result.files}
    back = read_bucket(uri(hub, "nd"), format="ndjson", storage_options=opts)
    assert as_frame(back).equals(expected(tables))
    # and the Polars read path sees the same rows
    import hf_bucket_sink

    polars_back = hf_bucket_sink.read_ndjson(uri(hub, "nd") + "*.jsonl", storage_options=opts).sort("id")
    assert polars_back.equals(expected(tables))


# -- failures ------------------------------------------------------------------------------------------


class _Boom(RuntimeError):
    pass


def fail_on_part_two(batch: pa.Table) -> pa.Table:
    if pa.compute.any(pa.compute.equal(batch["id"], 12_345)).as_py():
        raise _Boom("injected failure in one task")
    return batch


def test_a_failing_task_fails_the_write_and_registers_nothing(
    cluster: None, hub: LocalHub, opts: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    sink = BucketDatasink(uri(hub, "fail"), format="parquet", storage_options=opts, manifest=True)
    ds = ray.data.from_arrow(source_tables()).map_batches(fail_on_part_two, batch_format="pyarrow")
    with caplog.at_level(logging.WARNING, logger="hf_bucket_sink"), pytest.raises(Exception, match="injected failure"):
        ds.write_datasink(sink, ray_remote_args={"max_retries": 0})
    assert sink.result is None and sink.error is not None
    assert "nothing was registered" in caplog.text
    assert listed(hub, "fail") == {}


class FlakyOnce(BucketDatasink):
    """First attempt of every task: store one file, then fail before returning (the worker "crashes")."""

    def __init__(self, *args: Any, marker_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marker_dir = marker_dir

    def write(self, blocks: Iterable[Any], ctx: Any) -> Any:
        marker = Path(self.marker_dir) / f"task{ctx.task_idx}"
        if marker.exists():
            return super().write(blocks, ctx)
        marker.touch()

        def then_fail() -> Iterator[Any]:
            it = iter(blocks)
            yield next(it)  # becomes a complete file (target_bytes_per_file=1)...
            yield next(it)  # ...and this one too: stored in Xet, never registered
            raise _Boom("first attempt dies after storing files")

        return super().write(then_fail(), ctx)


def test_a_retried_task_leaves_no_duplicate(cluster: None, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    tables = [t.slice(i, 1_250) for t in source_tables() for i in range(0, 5_000, 1_250)]  # 16 blocks
    sink = FlakyOnce(
        uri(hub, "retry"), format="parquet", storage_options=opts, marker_dir=str(tmp_path),
        min_rows_per_write=5_000, target_bytes_per_file=1,
    )
    registered_before = hub.stats()["files_registered"]
    ray.data.from_arrow(tables).write_datasink(sink, ray_remote_args={"max_retries": 2, "retry_exceptions": True})

    result = sink.result
    assert result is not None and result.rows == 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"task{t.task_idx}" for t in sink.tasks)  # all retried
    files = listed(hub, "retry")
    assert set(files) == {f.uri.split(f"/{BUCKET}/", 1)[1] for f in result.files}  # nothing from first attempts
    assert len(files) == 16  # one file per block, each once
    # the failed first attempts registered nothing: only this write's files (and its manifest) were
    # registered, each once (tests in this module run one after another on the module's hub)
    manifest = 1 if result.manifest is not None else 0
    assert hub.stats()["files_registered"] - registered_before == len(result.files) + manifest
    back = read_bucket(uri(hub, "retry"), format="parquet", storage_options=opts)
    assert as_frame(back).equals(expected(source_tables()))


def touch_marker(batch: pa.Table, marker_dir: str) -> pa.Table:
    Path(marker_dir, f"ran-{os.getpid()}-{batch['id'][0].as_py()}").touch()
    return batch


def test_bad_token_fails_in_on_write_start_before_any_task(cluster: None, hub: LocalHub, tmp_path: Path) -> None:
    sink = BucketDatasink(uri(hub, "badtoken"), format="parquet", storage_options={"token": "hf_bad", "endpoint": hub.url})
    ds = ray.data.from_arrow(source_tables(parts=2)).map_batches(
        touch_marker, batch_format="pyarrow", fn_kwargs={"marker_dir": str(tmp_path)}
    )
    with pytest.raises(AuthenticationError, match="rejected the token"):
        ds.write_datasink(sink)
    assert list(tmp_path.iterdir()) == []  # no task ran
    assert listed(hub, "badtoken") == {}


def test_if_exists_error_refuses_a_folder_with_files(cluster: None, hub: LocalHub, opts: dict[str, str]) -> None:
    HfApi(endpoint=hub.url, token=hub.token).batch_bucket_files(f"{hub.user}/{BUCKET}", add=[(b"x", "taken/old.txt")])
    sink = BucketDatasink(uri(hub, "taken"), storage_options=opts, if_exists="error")
    with pytest.raises(BucketFileExistsError):
        sink.preflight()
    overwrite = BucketDatasink(uri(hub, "taken"), storage_options=opts)  # "overwrite" is the default
    assert overwrite.if_exists == "overwrite"
    ray.data.from_arrow(source_tables(parts=1, rows=100)).write_datasink(overwrite)
    assert overwrite.result is not None
    # a file no output of ours wrote is left alone (no manifest lists it)
    new = {f.uri.split(f"/{BUCKET}/", 1)[1] for f in overwrite.result.files}
    assert set(listed(hub, "taken")) == new | {"taken/old.txt"}
    # a second overwrite replaces the first output: its files go, after the commit point
    again = BucketDatasink(uri(hub, "taken"), storage_options=opts, target_bytes_per_file=1)
    ray.data.from_arrow(source_tables(parts=2, rows=100)).write_datasink(again)
    assert again.result is not None and again.report is not None
    newer = {f.uri.split(f"/{BUCKET}/", 1)[1] for f in again.result.files}
    assert set(again.report.retired) == new - newer
    assert set(listed(hub, "taken")) == newer | {"taken/old.txt"}


def test_an_overwrite_that_fails_during_commit_leaves_the_previous_dataset_readable(
    cluster: None, hub: LocalHub, opts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hf_bucket_sink import CommitError, read_parquet
    from hf_bucket_sink.core.hub import HubClient

    old_tables = source_tables(parts=2, rows=1_000)
    first = BucketDatasink(uri(hub, "rayfail"), storage_options=opts)
    ray.data.from_arrow(old_tables).write_datasink(first)
    assert first.result is not None
    old = {f.uri.split(f"/{BUCKET}/", 1)[1]: f.xet_hash for f in first.result.files}

    # the new files' /batch is applied up to its 2nd line, then the answer is lost; no client retry
    monkeypatch.setattr(HubClient, "batch_retries", 0)
    hub.set_faults({"hub_batch": {"partial_lines": 2, "partial_answer": "drop"}})
    injected = hub.stats()["faults"]["injected"].get("partial_batches", 0)
    second = BucketDatasink(uri(hub, "rayfail"), storage_options=opts, target_bytes_per_file=1)
    try:
        with pytest.raises(CommitError) as caught:
            ray.data.from_arrow(source_tables(parts=4, rows=500)).write_datasink(second)
    finally:
        hub.set_faults({})
    assert hub.stats()["faults"]["injected"].get("partial_batches", 0) > injected  # the fault fired
    error = caught.value
    # the 2 applied lines were new paths: taken back before raising, so nothing of it stays visible
    assert error.previous_intact and error.visible == () and len(error.not_visible) == 4 + 1
    assert read_manifest(hub, "rayfail")["files"] == [
        {"path": p.split("/", 1)[1], "size": f.size, "xetHash": f.xet_hash, "rows": f.rows}
        for p, f in sorted((f.uri.split(f"/{BUCKET}/", 1)[1], f) for f in first.result.files)
    ]
    now = listed(hub, "rayfail")
    assert {p: f.xet_hash for p, f in now.items()} == old  # nothing of the previous output deleted, no orphan
    back = pl.concat([read_parquet(f.uri, storage_options=opts) for f in first.result.files])
    assert back.sort("id").equals(expected(old_tables))

    # a rerun of the same write commits it; the previous output's files are retired afterwards
    ray.data.from_arrow(source_tables(parts=4, rows=500)).write_datasink(second)
    assert second.result is not None
    assert set(listed(hub, "rayfail")) == {f.uri.split(f"/{BUCKET}/", 1)[1] for f in second.result.files}


# -- secrets -------------------------------------------------------------------------------------------


def test_the_pickled_datasink_and_filesystem_hold_no_token(hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_do_not_ship_me_0123456789"
    sink = BucketDatasink(uri(hub, "secret"), storage_options={"token": secret, "endpoint": hub.url})
    for dump in (pickle.dumps(sink), ray.cloudpickle.dumps(sink)):
        assert secret.encode() not in dump
    assert secret not in repr(sink)
    assert pickle.loads(pickle.dumps(sink))._token is None

    from hf_bucket_sink.ray import bucket_filesystem

    monkeypatch.setenv("HF_TOKEN", secret)
    fs = bucket_filesystem(endpoint=hub.url)
    assert fs.handler._hub().creds.token == secret  # resolved and cached in this process...
    assert secret.encode() not in pickle.dumps(fs)  # ...and never pickled
