"""The same client-facing checks against the local Hub and, opt-in, against huggingface.co.

The ``live`` variants run only when both ``HF_BUCKET_SINK_LIVE_TOKEN`` (a write token) and
``HF_BUCKET_SINK_LIVE_BUCKET`` (an existing bucket, ``namespace/name``) are set, and never when
``CI`` is set. They write under a fresh ``hf-bucket-sink-live/<random>/`` prefix of that bucket and
delete it afterwards. Run them with::

    HF_BUCKET_SINK_LIVE_TOKEN=hf_... HF_BUCKET_SINK_LIVE_BUCKET=me/scratch \\
        python -m pytest -q -rs tests/localhub/test_live_parity.py    # local and live variants

Only what every production-compatible server must do is asserted here (no local-only counters).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from huggingface_hub import HfApi, HfFileSystem
from huggingface_hub.errors import BucketBatchError

LIVE_TOKEN = os.environ.get("HF_BUCKET_SINK_LIVE_TOKEN")
LIVE_BUCKET = os.environ.get("HF_BUCKET_SINK_LIVE_BUCKET")
LIVE_ENDPOINT = os.environ.get("HF_BUCKET_SINK_LIVE_ENDPOINT", "https://huggingface.co")


@dataclass
class Target:
    """Where a parity test runs: endpoint, token, bucket and a private path prefix in it."""

    name: str
    endpoint: str
    token: str
    bucket: str
    prefix: str

    @property
    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token)

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"


def _live_skip_reason() -> str | None:
    if os.environ.get("CI"):
        return "live Hub tests never run in CI"
    if not (LIVE_TOKEN and LIVE_BUCKET):
        return "set HF_BUCKET_SINK_LIVE_TOKEN and HF_BUCKET_SINK_LIVE_BUCKET to run against the live Hub"
    return None


@pytest.fixture(params=["local", "live"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "local":
        hub = request.getfixturevalue("local_hub")
        HfApi(endpoint=hub.url, token=hub.token).create_bucket("parity")
        yield Target("local", hub.url, hub.token, "local/parity", "")
        return
    reason = _live_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    assert LIVE_TOKEN is not None and LIVE_BUCKET is not None
    t = Target("live", LIVE_ENDPOINT, LIVE_TOKEN, LIVE_BUCKET, f"hf-bucket-sink-live/{secrets.token_hex(6)}/")
    try:
        yield t
    finally:
        leftovers = [e.path for e in t.api.list_bucket_tree(t.bucket, prefix=t.prefix, recursive=True)
                     if e.type == "file"]
        if leftovers:
            t.api.batch_bucket_files(t.bucket, delete=leftovers)


DATA = bytes(range(256)) * 1200  # 307,200 bytes, not compressible to nothing


def test_upload_list_info_delete(target: Target) -> None:
    api = target.api
    api.batch_bucket_files(target.bucket, add=[(DATA, target.path("a/data.bin")), (b"", target.path("a/empty.txt"))])
    infos = {i.path: i for i in api.get_bucket_paths_info(target.bucket, [target.path("a/data.bin"),
                                                                          target.path("a/missing")])}
    assert list(infos) == [target.path("a/data.bin")] and infos[target.path("a/data.bin")].size == len(DATA)
    listed = sorted(e.path for e in api.list_bucket_tree(target.bucket, prefix=target.path("a"), recursive=True))
    assert listed == [target.path("a/data.bin"), target.path("a/empty.txt")]
    api.batch_bucket_files(target.bucket, delete=[target.path("a/data.bin"), target.path("a/empty.txt")])
    assert list(api.get_bucket_paths_info(target.bucket, [target.path("a/data.bin")])) == []


def test_metadata_and_download(target: Target, tmp_path: Path) -> None:
    api = target.api
    api.batch_bucket_files(target.bucket, add=[(DATA, target.path("m.bin"))])
    meta = api.get_bucket_file_metadata(target.bucket, target.path("m.bin"))
    assert meta.size == len(DATA) and meta.xet_file_data is not None
    api.download_bucket_files(target.bucket, [(target.path("m.bin"), str(tmp_path / "m.bin"))])
    assert (tmp_path / "m.bin").read_bytes() == DATA


def test_filesystem_reads(target: Target) -> None:
    target.api.batch_bucket_files(target.bucket, add=[(DATA, target.path("fs.bin"))])
    fs = HfFileSystem(endpoint=target.endpoint, token=target.token)
    remote = f"buckets/{target.bucket}/{target.path('fs.bin')}"
    with fs.open(remote, block_size=64 << 10) as f:
        f.seek(100_000)
        assert f.read(1000) == DATA[100_000:101_000]
    assert fs.cat(remote) == DATA


def test_resolve_redirects_off_origin_with_metadata(target: Target) -> None:
    target.api.batch_bucket_files(target.bucket, add=[(DATA, target.path("r.bin"))])
    url = f"{target.endpoint}/buckets/{target.bucket}/resolve/{target.path('r.bin')}"
    auth = {"Authorization": f"Bearer {target.token}"}
    head = httpx2.head(url, headers=auth, follow_redirects=False)
    assert head.status_code == 302 and head.headers["X-Linked-Size"] == str(len(DATA))
    assert head.headers["X-Xet-Hash"] and "xet-auth" in head.headers["Link"]
    location = urlsplit(head.headers["Location"])
    assert (location.scheme, location.netloc) != (urlsplit(url).scheme, urlsplit(url).netloc)
    ranged = httpx2.get(url, headers={**auth, "Range": "bytes=10-19"}, follow_redirects=True)
    assert ranged.status_code == 206 and ranged.content == DATA[10:20]
    # the signed URL alone, without any token, serves the bytes
    assert httpx2.get(head.headers["Location"], headers={"Range": "bytes=0-3"}).content == DATA[:4]


def test_batch_reports_a_bad_line_and_applies_the_others(target: Target) -> None:
    api = target.api
    api.batch_bucket_files(target.bucket, add=[(DATA, target.path("src.bin"))])
    (info,) = api.get_bucket_paths_info(target.bucket, [target.path("src.bin")])
    with pytest.raises(BucketBatchError) as err:
        api.batch_bucket_files(target.bucket, copy=[
            ("bucket", target.bucket, info.xet_hash, target.path("good-copy.bin")),
            ("bucket", target.bucket, "ab" * 32, target.path("bad-copy.bin")),
        ])
    assert [f["path"] for f in err.value.failures] == [target.path("bad-copy.bin")]
    present = [i.path for i in api.get_bucket_paths_info(target.bucket, [target.path("good-copy.bin"),
                                                                         target.path("bad-copy.bin")])]
    assert present == [target.path("good-copy.bin")]


def test_live_suite_is_skipped_without_credentials(request: pytest.FixtureRequest, monkeypatch: Any) -> None:
    monkeypatch.delenv("CI", raising=False)
    if LIVE_TOKEN and LIVE_BUCKET:
        pytest.skip("credentials are set: the live variants run instead")
    assert _live_skip_reason() is not None
