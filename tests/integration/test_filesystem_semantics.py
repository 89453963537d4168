"""``BucketFileSystem`` semantics on the local Hub: when files become visible, footer refusal, no temp disk,
server-side cp/mv, pinned reads, and non-bucket paths reaching ``HfFileSystem``'s own code."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import HfApi, HfFileSystem

from hf_bucket_sink.filesystem import BucketFileSystem, IncompleteFileError
from hf_bucket_sink.localhub import LocalHub

BUCKET = "sem"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}")
        yield h


@pytest.fixture
def fs(hub: LocalHub) -> BucketFileSystem:
    return BucketFileSystem(endpoint=hub.url, token=hub.token, skip_instance_cache=True)


@pytest.fixture
def root(hub: LocalHub, request: pytest.FixtureRequest) -> str:
    return f"hf://buckets/{hub.user}/{BUCKET}/{request.node.name}"


def test_visible_on_close_never_after_exception_in_its_with(fs: BucketFileSystem, root: str) -> None:
    f = fs.open(f"{root}/a.bin", "wb")
    f.write(b"a" * 1000)
    assert not fs.exists(f"{root}/a.bin", refresh=True)
    f.close()
    assert fs.cat(f"{root}/a.bin") == b"a" * 1000
    with pytest.raises(KeyError):
        with fs.open(f"{root}/a.bin", "wb") as f:
            f.write(b"new")
            raise KeyError("inside the with-block")
    assert fs.cat(f"{root}/a.bin") == b"a" * 1000
    with pytest.raises(KeyError):
        with fs.open(f"{root}/a.bin", "w") as t:  # text mode too
            t.write("new text")
            raise KeyError("inside the with-block")
    assert fs.cat(f"{root}/a.bin") == b"a" * 1000
    with fs.open(f"{root}/a.txt", "w") as t:
        t.write("text ok")
    assert fs.cat(f"{root}/a.txt") == b"text ok"


def test_incomplete_parquet_and_arrow_are_refused(fs: BucketFileSystem, root: str) -> None:
    data = pd.DataFrame({"a": range(10_000)})
    with fs.open(f"{root}/ok.parquet", "wb") as f:
        data.to_parquet(f)
    whole = fs.cat(f"{root}/ok.parquet")
    for name, body in [("torn.parquet", whole[: len(whole) // 2]), ("torn.arrow", b"ARROW1\0\0" + b"x" * 100)]:
        f = fs.open(f"{root}/{name}", "wb")
        f.write(body)  # a writer that failed part-way, then closed the file on its error path
        with pytest.raises(IncompleteFileError, match="Nothing was registered"):
            f.close()
        assert not fs.exists(f"{root}/{name}", refresh=True)
    with fs.transaction as txn:  # the same check at the end of a transaction refuses the whole of it
        with fs.open(f"{root}/in-txn-ok.parquet", "wb") as f:
            data.to_parquet(f)
        f = fs.open(f"{root}/in-txn-torn.parquet", "wb")
        f.write(whole[:100])
        f.close()
        with pytest.raises(IncompleteFileError):
            txn.complete(commit=True)
    assert not fs.exists(f"{root}/in-txn-ok.parquet", refresh=True)


def test_nothing_visible_until_transaction_ends_threads(fs: BucketFileSystem, root: str) -> None:
    def write(i: int) -> None:
        with fs.open(f"{root}/t/{i}.bin", "wb") as f:
            f.write(bytes([i]) * 100_000)

    with fs.transaction:
        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not fs.exists(f"{root}/t/0.bin", refresh=True)
    assert sorted(fs.ls(f"{root}/t", detail=False, refresh=True)) == sorted(f"{root[5:]}/t/{i}.bin" for i in range(8))
    assert fs.cat(f"{root}/t/7.bin") == bytes([7]) * 100_000


def test_streaming_write_uses_no_temp_disk(fs: BucketFileSystem, root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    # the control proves the probe sees temp files: HfFileSystem spools a written file there
    seen: list[int] = []

    def used() -> int:
        return sum(e.stat().st_size for e in os.scandir(spool))

    stock = HfFileSystem(endpoint=fs.endpoint, token=fs.token, skip_instance_cache=True)
    with stock.open(f"{root}/stock.bin", "wb") as f:
        f.write(os.urandom(8 * 1024 * 1024))
        seen.append(used())
    assert seen[0] > 0
    block = os.urandom(1024 * 1024)
    with fs.open(f"{root}/big.bin", "wb") as f:
        for _ in range(64):  # 64 MiB streamed
            f.write(block)
            seen.append(used())
    assert seen[1:] == [0] * 64 and used() == 0
    assert fs.info(f"{root}/big.bin")["size"] == 64 * 1024 * 1024


def test_cp_and_mv_are_server_side(fs: BucketFileSystem, root: str, hub: LocalHub) -> None:
    payload = os.urandom(2 * 1024 * 1024)
    for name in ("x/a.bin", "x/b.bin"):
        with fs.open(f"{root}/{name}", "wb") as f:
            f.write(payload)
    before = hub.stats()
    fs.cp(f"{root}/x/a.bin", f"{root}/copy.bin")
    fs.mv(f"{root}/x", f"{root}/moved", recursive=True)
    after = hub.stats()
    moved = {k: after[k] - before[k] for k in ("xorb_bytes_received", "shards_received", "files_registered", "files_deleted")}
    assert moved == {"xorb_bytes_received": 0, "shards_received": 0, "files_registered": 3, "files_deleted": 2}
    assert sorted(fs.find(root)) == [f"{root[5:]}/{n}" for n in ("copy.bin", "moved/a.bin", "moved/b.bin")]
    assert fs.cat(f"{root}/moved/b.bin") == payload
    fs.rm(f"{root}/copy.bin")
    assert not fs.exists(f"{root}/copy.bin")


def test_read_is_pinned_to_the_version_opened(fs: BucketFileSystem, root: str) -> None:
    old, new = os.urandom(3 * 1024 * 1024), os.urandom(3 * 1024 * 1024)
    with fs.open(f"{root}/v.bin", "wb") as f:
        f.write(old)
    with fs.open(f"{root}/v.bin", "rb", block_size=1024 * 1024) as r:
        first = r.read(1024 * 1024)
        with fs.open(f"{root}/v.bin", "wb") as w:  # overwritten while being read
            w.write(new)
        rest = r.read()
    assert first + rest == old
    assert fs.cat(f"{root}/v.bin") == new


def test_non_bucket_paths_reach_hffilesystem(fs: BucketFileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    for name in ("_open", "cp_file", "ls", "info", "mv"):
        original = getattr(HfFileSystem, name)

        def spy(self: HfFileSystem, path: str, *args: object, _name: str = name, _orig: object = original, **kwargs: object) -> object:
            calls.append((_name, path))
            raise LookupError("reached HfFileSystem")

        monkeypatch.setattr(HfFileSystem, name, spy)
    for call in (
        lambda: fs.open("hf://datasets/me/d/x.csv", "rb"),
        lambda: fs.cp_file("hf://datasets/me/d/x.csv", "hf://datasets/me/d/y.csv"),
        lambda: fs.ls("hf://models/me/m"),
        lambda: fs.info("hf://spaces/me/s/app.py"),
        lambda: fs.mv("hf://datasets/me/d/x.csv", "hf://datasets/me/d/z.csv"),
    ):
        with pytest.raises(LookupError, match="reached HfFileSystem"):
            call()
    assert [c[0] for c in calls] == ["_open", "cp_file", "ls", "info", "mv"]
    with fs.transaction, pytest.raises(NotImplementedError, match="hf://buckets/ paths only"):
        fs.open("hf://datasets/me/d/x.csv", "wb")
