"""Every ``huggingface_hub`` bucket call, unmodified, against a local Hub over loopback HTTP."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    BucketBatchError,
    BucketNotFoundError,
    EntryNotFoundError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
)

BUCKET = "local/data"


def _paths(entries: Any) -> list[str]:
    return sorted(e.path for e in entries)


def test_whoami(hf_api: HfApi, local_hub: Any) -> None:
    me = hf_api.whoami()
    assert me["name"] == local_hub.user
    assert me["auth"]["accessToken"]["role"] == "write"


def test_create_bucket_me_alias_exist_ok_and_409(hf_api: HfApi, local_hub: Any) -> None:
    url = hf_api.create_bucket("data")
    assert url.bucket_id == BUCKET
    assert url.url == f"{local_hub.url}/buckets/{BUCKET}"
    assert hf_api.create_bucket(BUCKET, exist_ok=True) == url
    with pytest.raises(HfHubHTTPError) as info:
        hf_api.create_bucket(BUCKET)
    assert info.value.response.status_code == 409
    assert info.value.response.json()["url"] == url.url


def test_bucket_info_and_not_found(hf_api: HfApi) -> None:
    hf_api.create_bucket("data", private=True)
    info = hf_api.bucket_info(BUCKET)
    assert (info.id, info.private, info.size, info.total_files) == (BUCKET, True, 0, 0)
    assert info.created_at.tzinfo is not None
    with pytest.raises(BucketNotFoundError) as err:
        hf_api.bucket_info("local/missing")
    assert err.value.response.status_code == 404


def test_list_buckets_with_search_and_pagination(local_hub_factory: Any) -> None:
    hub = local_hub_factory(page_size=2)
    api = HfApi(endpoint=hub.url, token=hub.token)
    for name in ("alpha", "beta", "alphabet", "gamma", "delta"):
        api.create_bucket(name, private=name == "gamma")
    assert sorted(b.id for b in api.list_buckets()) == [
        f"local/{n}" for n in ("alpha", "alphabet", "beta", "delta", "gamma")
    ]
    assert sorted(b.id for b in api.list_buckets(search="alpha")) == ["local/alpha", "local/alphabet"]
    # Anonymous callers see public buckets only.
    anon = HfApi(endpoint=hub.url, token=False)
    assert "local/gamma" not in {b.id for b in anon.list_buckets("local")}
    assert hub.stats()["requests"]["hub_api"] >= 3  # several pages were fetched


def test_batch_add_copy_delete_and_read_back(hf_api: HfApi, tmp_path: Path) -> None:
    hf_api.create_bucket("data")
    hf_api.create_bucket("copy")
    local = tmp_path / "model.bin"
    payload = os.urandom(300_000)
    local.write_bytes(payload)
    os.utime(local, (1_700_000_000.123, 1_700_000_000.123))
    hf_api.batch_bucket_files(
        BUCKET,
        add=[
            (local, "models/model.bin"),
            (b'{"a": 1}', "config.json"),
            (b"", "empty.txt"),
            ("résumé ünïcode 文件".encode(), "deep/dir/ünï cödé 文件.txt"),
        ],
    )
    files = {f.path: f for f in hf_api.list_bucket_tree(BUCKET)}
    assert set(files) == {"models/model.bin", "config.json", "empty.txt", "deep/dir/ünï cödé 文件.txt"}
    model = files["models/model.bin"]
    assert model.size == len(payload)
    assert model.mtime is not None and int(model.mtime.timestamp() * 1000) == 1_700_000_000_123  # exact ms
    assert files["empty.txt"].xet_hash == "0" * 64 and files["empty.txt"].size == 0

    # copy by hash into another bucket, then delete the source
    hf_api.batch_bucket_files("local/copy", copy=[("bucket", BUCKET, model.xet_hash, "copied/model.bin")])
    hf_api.batch_bucket_files(BUCKET, delete=["models/model.bin", "never/existed.txt"])
    assert "models/model.bin" not in _paths(hf_api.list_bucket_tree(BUCKET))

    out = tmp_path / "out"
    hf_api.download_bucket_files(
        "local/copy", [("copied/model.bin", out / "m.bin")], raise_on_missing_files=True
    )
    assert (out / "m.bin").read_bytes() == payload
    hf_api.download_bucket_files(
        BUCKET,
        [("empty.txt", out / "e.txt"), ("deep/dir/ünï cödé 文件.txt", out / "u.txt"), ("config.json", out / "c.json")],
    )
    assert (out / "e.txt").read_bytes() == b""
    assert (out / "u.txt").read_bytes() == "résumé ünïcode 文件".encode()
    assert (out / "c.json").read_bytes() == b'{"a": 1}'
    info = hf_api.bucket_info(BUCKET)
    assert info.total_files == 3 and info.size == 8 + len("résumé ünïcode 文件".encode())


def test_overwrite_replaces_content(hf_api: HfApi, tmp_path: Path) -> None:
    hf_api.create_bucket("data")
    hf_api.batch_bucket_files(BUCKET, add=[(b"first version", "f.txt")])
    hf_api.batch_bucket_files(BUCKET, add=[(b"second, longer version", "f.txt")])
    [entry] = list(hf_api.get_bucket_paths_info(BUCKET, ["f.txt"]))
    assert entry.size == len(b"second, longer version")
    hf_api.download_bucket_files(BUCKET, [("f.txt", tmp_path / "f.txt")])
    assert (tmp_path / "f.txt").read_bytes() == b"second, longer version"


def test_list_bucket_tree_modes_and_pagination(local_hub_factory: Any) -> None:
    hub = local_hub_factory(page_size=2)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("data")
    names = ["a.txt", "logs.json", "logs/1.txt", "logs/2.txt", "logs/sub/3.txt", "logs_old/x.txt", "z/y/w.txt"]
    api.batch_bucket_files(BUCKET, add=[(n.encode(), n) for n in names])

    assert _paths(api.list_bucket_tree(BUCKET)) == sorted(names)  # default: recursive, paginated
    assert _paths(api.list_bucket_tree(BUCKET, recursive=True)) == sorted(names)
    top = list(api.list_bucket_tree(BUCKET, recursive=False))
    assert {(e.path, type(e).__name__) for e in top} == {
        ("a.txt", "BucketFile"), ("logs.json", "BucketFile"), ("logs", "BucketFolder"),
        ("logs_old", "BucketFolder"), ("z", "BucketFolder"),
    }
    assert all(e.uploaded_at is not None for e in top)
    # prefix: lexical when recursive (like the Hub), folder listing when not
    assert _paths(api.list_bucket_tree(BUCKET, prefix="logs")) == [
        "logs.json", "logs/1.txt", "logs/2.txt", "logs/sub/3.txt", "logs_old/x.txt"
    ]
    assert _paths(api.list_bucket_tree(BUCKET, prefix="logs/", recursive=True)) == [
        "logs/1.txt", "logs/2.txt", "logs/sub/3.txt"
    ]
    sub = list(api.list_bucket_tree(BUCKET, prefix="logs", recursive=False))
    assert {(e.path, e.type) for e in sub} == {("logs/1.txt", "file"), ("logs/2.txt", "file"), ("logs/sub", "directory")}
    # a prefix equal to a file returns that file; no match -> empty
    assert _paths(api.list_bucket_tree(BUCKET, prefix="a.txt", recursive=False)) == ["a.txt"]
    assert list(api.list_bucket_tree(BUCKET, prefix="nothing/here")) == []
    with pytest.raises(BucketNotFoundError):
        list(api.list_bucket_tree("local/missing"))


def test_get_bucket_paths_info(hf_api: HfApi) -> None:
    hf_api.create_bucket("data")
    hf_api.batch_bucket_files(BUCKET, add=[(b"x", "a/x.txt"), (b"yy", "b.txt")])
    found = {f.path: f.size for f in hf_api.get_bucket_paths_info(BUCKET, ["a/x.txt", "b.txt", "missing", "a"])}
    assert found == {"a/x.txt": 1, "b.txt": 2}  # folders and missing paths are omitted


def test_get_bucket_file_metadata(hf_api: HfApi, local_hub: Any) -> None:
    hf_api.create_bucket("data")
    hf_api.batch_bucket_files(BUCKET, add=[(b"hello world", "dir/hello.txt"), (b"", "empty")])
    meta = hf_api.get_bucket_file_metadata(BUCKET, "dir/hello.txt")
    assert meta.size == 11
    assert meta.xet_file_data.file_hash == "f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f"
    assert meta.xet_file_data.refresh_route == f"{local_hub.url}/api/buckets/{BUCKET}/xet-read-token"
    empty = hf_api.get_bucket_file_metadata(BUCKET, "empty")
    assert (empty.size, empty.xet_file_data.file_hash) == (0, "0" * 64)
    with pytest.raises(RemoteEntryNotFoundError):
        hf_api.get_bucket_file_metadata(BUCKET, "nope.txt")


def test_download_missing_files(hf_api: HfApi, tmp_path: Path) -> None:
    hf_api.create_bucket("data")
    hf_api.batch_bucket_files(BUCKET, add=[(b"x", "x")])
    with pytest.raises(EntryNotFoundError):
        hf_api.download_bucket_files(BUCKET, [("missing", tmp_path / "m")], raise_on_missing_files=True)


def test_batch_failures_are_reported(hf_api: HfApi, tmp_path: Path) -> None:
    hf_api.create_bucket("data")
    unknown = "ab" * 32
    with pytest.raises(BucketBatchError) as err:  # every line failed -> 422
        hf_api.batch_bucket_files(BUCKET, copy=[("bucket", BUCKET, unknown, "c.bin")])
    assert err.value.response.status_code == 422
    assert [f["path"] for f in err.value.failures] == ["c.bin"]
    with pytest.raises(BucketBatchError) as err:  # partial failure -> 200, good lines applied
        hf_api.batch_bucket_files(
            BUCKET,
            add=[(b"ok", "ok.txt")],
            copy=[("bucket", "local/missing", unknown, "bad.bin"), ("model", "x/y", unknown, "model.bin")],
        )
    assert err.value.response.status_code == 200
    assert {f["path"] for f in err.value.failures} == {"bad.bin", "model.bin"}
    assert _paths(hf_api.list_bucket_tree(BUCKET)) == ["ok.txt"]


def test_move_settings_and_delete_bucket(hf_api: HfApi) -> None:
    hf_api.create_bucket("data")
    hf_api.batch_bucket_files(BUCKET, add=[(b"keep me", "k.txt")])
    before = hf_api.bucket_info(BUCKET)
    time.sleep(0.01)
    hf_api.update_bucket_settings(BUCKET, private=True)
    info = hf_api.bucket_info(BUCKET)
    assert info.private and info.updatedAt != before.updatedAt  # type: ignore[attr-defined]
    hf_api.move_bucket(BUCKET, "local/renamed")
    with pytest.raises(BucketNotFoundError):
        hf_api.bucket_info(BUCKET)
    assert _paths(hf_api.list_bucket_tree("local/renamed")) == ["k.txt"]
    hf_api.delete_bucket("local/renamed")
    with pytest.raises(BucketNotFoundError):
        hf_api.bucket_info("local/renamed")
    hf_api.delete_bucket("local/renamed", missing_ok=True)
    with pytest.raises(BucketNotFoundError):
        hf_api.delete_bucket("local/renamed")


@pytest.mark.filterwarnings("ignore:Cannot enable progress bars")
def test_sync_bucket_round_trip(hf_api: HfApi, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a" * 1000)
    (src / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    hf_api.create_bucket("data")
    hf_api.sync_bucket(str(src), f"hf://buckets/{BUCKET}", quiet=True)
    # a second sync finds nothing to do: sizes and ms mtimes round-trip exactly
    plan = hf_api.sync_bucket(str(src), f"hf://buckets/{BUCKET}", quiet=True, dry_run=True)
    assert plan.summary()["uploads"] == 0
    dst = tmp_path / "dst"
    hf_api.sync_bucket(f"hf://buckets/{BUCKET}", str(dst), quiet=True)
    assert (dst / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
