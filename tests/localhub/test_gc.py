"""Garbage collection of the local Hub (localhub/gc.py): unreferenced xorbs and shard records go,
referenced ones and uploads in progress (grace period + leases) stay, and a GC killed at any point
loses nothing still referenced.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import BucketBatchError

from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.localhub.gc import DataDirBusyError, collect_offline

BUCKET = "local/b"


def _download(hub: Any, path: str) -> bytes:
    resp = httpx2.get(f"{hub.url}/buckets/{BUCKET}/resolve/{path}", follow_redirects=True,
                      headers={"Authorization": f"Bearer {hub.token}"})
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:200])
    return resp.content


def _xorb_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "xorbs").glob("*/*")}


def _populate(hub: Any, *, keep: int, junk: int, seed: int = 0) -> dict[str, bytes]:
    """``keep`` files that stay and ``junk`` files deleted again, each in its own commit (own xorb)."""
    rng = random.Random(seed)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b", exist_ok=True)
    kept: dict[str, bytes] = {}
    for i in range(keep + junk):
        data = rng.randbytes(20_000 + i * 997)
        path = f"keep/{i}.bin" if i < keep else f"junk/{i}.bin"
        api.batch_bucket_files(BUCKET, add=[(data, path)])
        if i < keep:
            kept[path] = data
    api.batch_bucket_files(BUCKET, delete=[f"junk/{i}.bin" for i in range(keep, keep + junk)])
    return kept


def test_gc_removes_what_no_file_references_and_keeps_the_rest(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    kept = _populate(hub, keep=2, junk=2)
    before = hub.stats()["catalog"]
    assert hub.collect_garbage().xorbs == 0  # default grace (24 h): everything is recent
    result = hub.collect_garbage(grace=0)
    assert (result.files, result.shards, result.xorbs) == (2, 2, 2) and result.xorb_bytes > 40_000
    after = hub.stats()["catalog"]
    assert after["xorbs"] == before["xorbs"] - 2 and after["shards"] == before["shards"] - 2
    assert len(_xorb_files(hub.data_dir)) == after["xorbs"] == 2  # the files went with their rows
    for path, data in kept.items():
        assert _download(hub, path) == data
    stats = hub.stats()
    assert (stats["gc_runs"], stats["gc_xorbs_removed"]) == (2, 2)
    assert hub.collect_garbage(grace=0).xorbs == 0  # idempotent


def test_a_file_still_referenced_elsewhere_keeps_its_xorbs(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    api.create_bucket("c")
    data = os.urandom(50_000)
    api.batch_bucket_files(BUCKET, add=[(data, "x.bin")])
    (info,) = api.get_bucket_paths_info(BUCKET, ["x.bin"])
    api.batch_bucket_files("local/c", copy=[("bucket", BUCKET, info.xet_hash, "copy.bin")])
    api.delete_bucket(BUCKET)
    assert hub.collect_garbage(grace=0).xorbs == 0
    resp = httpx2.get(f"{hub.url}/buckets/local/c/resolve/copy.bin", follow_redirects=True,
                      headers={"Authorization": f"Bearer {hub.token}"})
    assert resp.content == data


def test_an_upload_in_progress_survives_gc_within_its_grace(local_hub_factory: Any) -> None:
    """Xorbs and shard uploaded, batch not (yet) applied: the state GC must not destroy."""
    hub = local_hub_factory()
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    data = os.urandom(80_000)
    hub.set_faults({"hub_batch": {"partial_lines": 0, "partial_answer": "report", "times": 1}})
    with pytest.raises(BucketBatchError):
        api.batch_bucket_files(BUCKET, add=[(data, "late.bin")])
    assert hub.stats()["faults"]["injected"]["partial_batches"] == 1
    assert hub.stats()["catalog"]["files"] == 0 and hub.stats()["catalog"]["xorbs"] == 1  # uploaded, unregistered
    result = hub.collect_garbage(grace=60)
    assert (result.files, result.xorbs) == (0, 0)
    api.batch_bucket_files(BUCKET, add=[(data, "late.bin")])  # the client finishes its commit
    assert _download(hub, "late.bin") == data


def test_without_grace_an_unregistered_upload_is_garbage(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    hub.set_faults({"hub_batch": {"partial_lines": 0, "partial_answer": "report", "times": 1}})
    with pytest.raises(BucketBatchError):
        api.batch_bucket_files(BUCKET, add=[(os.urandom(30_000), "never.bin")])
    result = hub.collect_garbage(grace=0)
    assert (result.files, result.xorbs) == (1, 1) and _xorb_files(hub.data_dir) == set()


def test_a_lease_restarts_the_grace_period(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    data = os.urandom(40_000)
    api.batch_bucket_files(BUCKET, add=[(data, "a.bin")])
    api.batch_bucket_files(BUCKET, delete=["a.bin"])
    time.sleep(1.1)
    # another upload of the same bytes: the hub tells the client the xorb is already there
    api.batch_bucket_files(BUCKET, add=[(data, "b.bin")])
    api.batch_bucket_files(BUCKET, delete=["b.bin"])
    result = hub.collect_garbage(grace=1.0)  # older than 1 s only by its first upload: leased again since
    assert result.xorbs == 0
    assert hub.collect_garbage(grace=0).xorbs == 1


def test_admin_route_and_schedule(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    _populate(hub, keep=1, junk=1)
    url = f"{hub.url}/_localhub/gc"
    for bad in ([], {"grace": 0}, {"grace_s": -1}, {"grace_s": "0"}):
        assert httpx2.post(url, json=bad).status_code == 400, bad
    answer = httpx2.post(url, json={"grace_s": 0})
    assert answer.status_code == 200 and answer.json()["xorbs"] == 1 and answer.json()["grace_s"] == 0

    scheduled = local_hub_factory(gc_interval=0.2, gc_grace=0)
    _populate(scheduled, keep=1, junk=1)
    deadline = time.monotonic() + 10
    while scheduled.stats()["gc_xorbs_removed"] < 1:
        assert time.monotonic() < deadline, "the scheduled GC never removed the garbage"
        time.sleep(0.1)
    assert len(_xorb_files(scheduled.data_dir)) == 1


def _gc_command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hf_bucket_sink.cli", "serve", "gc", "--data-dir", str(data_dir), *extra]


def test_offline_gc_refuses_a_running_hubs_data_dir(local_hub_factory: Any, tmp_path: Path) -> None:
    hub = local_hub_factory()
    with pytest.raises(DataDirBusyError):
        collect_offline(hub.data_dir, grace=0)
    with pytest.raises(FileNotFoundError):
        collect_offline(tmp_path, grace=0)


def test_gc_killed_at_random_points_loses_nothing_referenced(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    with LocalHub(data_dir) as hub:
        kept = _populate(hub, keep=4, junk=8, seed=7)
        stored = _xorb_files(data_dir)
    rng = random.Random(11)
    killed = 0
    for _ in range(5):
        # kill after a random number of progress lines: before the commit, right after it, between unlinks
        cut_after = rng.randint(0, 6)
        proc = subprocess.Popen(_gc_command(data_dir, "--grace", "0", "--verbose"), stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for n, _line in enumerate(proc.stdout):
            if n >= cut_after:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=30)
        killed += proc.returncode == -signal.SIGKILL
        with LocalHub(data_dir) as hub:  # every kept file still downloads, byte-identical
            for path, data in kept.items():
                assert _download(hub, path) == data, f"{path} damaged after a GC killed at line {cut_after}"
    assert killed >= 1, "no run was actually killed mid-way"
    done = subprocess.run(_gc_command(data_dir, "--grace", "0"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout.strip().splitlines()[-1])
    with LocalHub(data_dir) as hub:
        remaining = _xorb_files(data_dir)
        assert hub.stats()["catalog"]["xorbs"] == len(remaining) == 4  # all garbage gone in the end
        assert remaining < stored
        for path, data in kept.items():
            assert _download(hub, path) == data
