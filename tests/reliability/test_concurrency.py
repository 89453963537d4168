"""Many writers at once: 8 processes sinking to one bucket all land; two writers racing on one
path leave one whole version, never a mix (a path points at one Xet file hash, swapped atomically)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from reliability_helpers import SCALE, record

_WRITER = r"""
import sys, polars as pl, hf_bucket_sink
endpoint, token, i, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
df = pl.DataFrame({"writer": [i] * rows, "n": list(range(rows))})
hf_bucket_sink.sink_parquet(df, f"hf://buckets/local/shared/w{i}.parquet", storage_options={"token": token, "endpoint": endpoint})
"""


def _processes(hub: Any, tmp_path: Path, writers: int, rows: int) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("shared", exist_ok=True)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, hub.url, hub.token, str(i), str(rows)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(writers)
    ]
    errors = []
    for i, p in enumerate(procs):
        _out, err = p.communicate(timeout=240)
        if p.returncode != 0:
            errors.append(f"writer {i}: {err.decode()[-500:]}")
    assert errors == []
    names = sorted(e.path for e in api.list_bucket_tree("local/shared", recursive=True))
    assert names == sorted(f"w{i}.parquet" for i in range(writers))
    targets = [(f"w{i}.parquet", str(tmp_path / f"w{i}.parquet")) for i in range(writers)]
    api.download_bucket_files("local/shared", targets, raise_on_missing_files=True)
    for i in range(writers):
        df = pl.read_parquet(tmp_path / f"w{i}.parquet")
        assert df["writer"].unique().to_list() == [i] and df.height == rows
    record("processes", writers=writers, files_verified=writers, bytes_lost=0)


def test_eight_processes_sink_to_one_bucket(local_hub: Any, tmp_path: Path) -> None:
    _processes(local_hub, tmp_path, writers=8, rows=50_000)


@pytest.mark.slow
def test_soak_many_processes(local_hub: Any, tmp_path: Path) -> None:
    _processes(local_hub, tmp_path, writers=8 * SCALE, rows=500_000)


def _race(hub: Any, tmp_path: Path, rounds: int, rows: int) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("race", exist_ok=True)
    opts = {"token": hub.token, "endpoint": hub.url}
    uri = "hf://buckets/local/race/same.parquet"
    versions = {w: pl.DataFrame({"writer": [w] * rows, "n": list(range(rows))}) for w in (1, 2)}
    for r in range(rounds):
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def write(w: int) -> None:
            barrier.wait()
            try:
                hf_bucket_sink.sink_parquet(versions[w].lazy(), uri, storage_options=opts)
            except Exception as exc:  # recorded, asserted below
                failures.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        local = tmp_path / f"race-{r}.parquet"
        api.download_bucket_files("local/race", [("same.parquet", str(local))], raise_on_missing_files=True)
        got = pl.read_parquet(local)
        assert got.equals(versions[1]) or got.equals(versions[2]), f"round {r}: a mix of both writers"
    record("race", rounds=rounds, mixed_versions=0)


def test_two_writers_racing_on_one_path_leave_one_whole_version(local_hub: Any, tmp_path: Path) -> None:
    _race(local_hub, tmp_path, rounds=4, rows=200_000)


@pytest.mark.slow
def test_soak_racing_writers(local_hub: Any, tmp_path: Path) -> None:
    _race(local_hub, tmp_path, rounds=20 * SCALE, rows=1_000_000)
