"""``HfFileSystem`` (fsspec) on ``hf://buckets/...`` paths against a local Hub."""

from __future__ import annotations

import os
from typing import Any

import pytest
from huggingface_hub import HfApi, HfFileSystem

ROOT = "hf://buckets/local/fs"


@pytest.fixture
def fs(hf_api: HfApi, local_hub: Any) -> HfFileSystem:
    hf_api.create_bucket("fs")
    return HfFileSystem(endpoint=local_hub.url, token=local_hub.token, skip_instance_cache=True)


@pytest.fixture
def payload(hf_api: HfApi) -> bytes:
    data = os.urandom(1_500_000)
    hf_api.batch_bucket_files(
        "local/fs",
        add=[(data, "data/blob.bin"), (b"col\n1\n", "data/small.csv"), (b"", "empty.txt"), (b"x", "data/deep/x.txt")],
    )
    return data


def test_ls_info_glob_find(fs: HfFileSystem, payload: bytes) -> None:
    top = fs.ls(ROOT, detail=True)
    assert {(e["name"], e["type"]) for e in top} == {
        ("buckets/local/fs/data", "directory"),
        ("buckets/local/fs/empty.txt", "file"),
    }
    assert sorted(fs.ls(f"{ROOT}/data", detail=False)) == [
        "buckets/local/fs/data/blob.bin", "buckets/local/fs/data/deep", "buckets/local/fs/data/small.csv"
    ]
    info = fs.info(f"{ROOT}/data/blob.bin")
    assert info["type"] == "file" and info["size"] == len(payload)
    assert fs.info(f"{ROOT}/data")["type"] == "directory"
    assert fs.info(f"{ROOT}/empty.txt")["size"] == 0
    assert sorted(fs.glob(f"{ROOT}/data/*.csv")) == ["buckets/local/fs/data/small.csv"]
    assert sorted(fs.find(ROOT)) == [
        "buckets/local/fs/data/blob.bin", "buckets/local/fs/data/deep/x.txt",
        "buckets/local/fs/data/small.csv", "buckets/local/fs/empty.txt",
    ]
    assert not fs.exists(f"{ROOT}/nope.txt")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{ROOT}/nope.txt")
    with pytest.raises(FileNotFoundError):
        fs.ls("hf://buckets/local/missing-bucket")


def test_cat_and_ranged_reads(fs: HfFileSystem, payload: bytes) -> None:
    assert fs.cat(f"{ROOT}/data/blob.bin") == payload
    assert fs.cat(f"{ROOT}/empty.txt") == b""
    assert fs.cat_file(f"{ROOT}/data/blob.bin", start=1000, end=5000) == payload[1000:5000]
    with fs.open(f"{ROOT}/data/blob.bin", "rb", block_size=64 * 1024) as f:
        f.seek(700_000)
        assert f.read(100_000) == payload[700_000:800_000]
        f.seek(-10, os.SEEK_END)
        assert f.read() == payload[-10:]
        f.seek(5)
        assert f.read(3) == payload[5:8]


def test_get_file_through_xet(fs: HfFileSystem, payload: bytes, tmp_path: Any) -> None:
    target = tmp_path / "blob.bin"
    fs.get_file(f"{ROOT}/data/blob.bin", str(target))
    assert target.read_bytes() == payload


def test_write_and_rm(fs: HfFileSystem, payload: bytes) -> None:
    with fs.open(f"{ROOT}/new/written.txt", "wb") as f:
        f.write(b"written through fsspec")
    assert fs.cat(f"{ROOT}/new/written.txt") == b"written through fsspec"
    fs.rm(f"{ROOT}/data/small.csv")
    assert not fs.exists(f"{ROOT}/data/small.csv")
    fs.rm(f"{ROOT}/data", recursive=True)
    fs.invalidate_cache()
    assert sorted(fs.find(ROOT)) == ["buckets/local/fs/empty.txt", "buckets/local/fs/new/written.txt"]


def test_server_side_copies(fs: HfFileSystem, payload: bytes, hf_api: HfApi) -> None:
    fs.cp_file(f"{ROOT}/data/blob.bin", f"{ROOT}/copies/blob.bin")  # copyFile by xet hash
    assert fs.cat(f"{ROOT}/copies/blob.bin") == payload
    hf_api.create_bucket("dest")
    hf_api.copy_files(f"{ROOT}/data/", "hf://buckets/local/dest/backup/")
    assert sorted(f.path for f in hf_api.list_bucket_tree("local/dest")) == [
        "backup/blob.bin", "backup/deep/x.txt", "backup/small.csv"
    ]
