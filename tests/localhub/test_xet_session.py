"""Raw ``hf_xet.XetSession`` streaming upload and ranged download streams through a local Hub."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import hf_xet
import pytest
from huggingface_hub import HfApi

SIZE = 150 * 1000 * 1000 + 12_345  # several xorbs (64 MiB raw each)
BLOCK = 8 << 20


def _write_token_url(hub: Any, bucket: str) -> dict[str, Any]:
    return {
        "token_refresh_url": f"{hub.url}/api/buckets/{bucket}/xet-write-token",
        "token_refresh_headers": {"Authorization": f"Bearer {hub.token}"},
    }


def _read_token_url(hub: Any, bucket: str) -> dict[str, Any]:
    return {
        "token_refresh_url": f"{hub.url}/api/buckets/{bucket}/xet-read-token",
        "token_refresh_headers": {"Authorization": f"Bearer {hub.token}"},
    }


def _stream_upload(session: hf_xet.XetSession, hub: Any, bucket: str, data: bytes | memoryview) -> Any:
    commit = session.new_upload_commit(**_write_token_url(hub, bucket))
    stream = commit.start_upload_stream(name="stream.bin")
    view = memoryview(data)
    for i in range(0, len(view), BLOCK):
        stream.write(bytes(view[i : i + BLOCK]))
    meta = stream.finish()
    commit.wait_to_finish()
    return meta.xet_info


def _register(api: HfApi, bucket: str, path: str, xet_hash: str) -> None:
    # What the sink does after a streaming upload: register the hash with the batch API.
    from huggingface_hub.utils import get_session, hf_raise_for_status

    line = f'{{"type":"addFile","path":"{path}","xetHash":"{xet_hash}","mtime":{int(time.time() * 1000)}}}\n'
    resp = get_session().post(
        f"{api.endpoint}/api/buckets/{bucket}/batch",
        headers={**api._build_hf_headers(), "Content-Type": "application/x-ndjson"},
        content=line.encode(),
    )
    hf_raise_for_status(resp)
    assert resp.json()["failed"] == []


def test_streaming_upload_and_ranged_download_150mb(local_hub: Any, hf_api: HfApi) -> None:
    hf_api.create_bucket("stream")
    bucket = "local/stream"
    data = os.urandom(SIZE)
    session = hf_xet.XetSession()
    info = _stream_upload(session, local_hub, bucket, data)
    assert info.file_size == SIZE
    stats = local_hub.stats()
    assert stats["xorbs_stored"] >= 3
    assert stats["raw_chunk_bytes_stored"] == SIZE  # random data: nothing deduplicated
    assert stats["xorb_bytes_received"] == stats["xorb_bytes_stored"]
    assert stats["shards_received"] == 1
    _register(hf_api, bucket, "big/stream.bin", info.hash)
    [entry] = list(hf_api.get_bucket_paths_info(bucket, ["big/stream.bin"]))
    assert (entry.size, entry.xet_hash) == (SIZE, info.hash)

    group = session.new_download_stream_group(**_read_token_url(local_hub, bucket))
    file_info = hf_xet.XetFileInfo(info.hash, SIZE)
    full = hashlib.sha256()
    for piece in group.download_stream(file_info):
        full.update(piece)
    assert full.digest() == hashlib.sha256(data).digest()
    # ranges across xorb boundaries, mid-chunk starts and ends, the tail
    for start, end in [(0, 1), (67_000_001, 70_123_457), (1_234_567, 140_000_000), (SIZE - 100, SIZE)]:
        got = b"".join(group.download_stream(file_info, start=start, end=end))
        assert got == data[start:end], (start, end)
    group.finish()


def test_reupload_same_content_stores_nothing_new(local_hub: Any, hf_api: HfApi) -> None:
    hf_api.create_bucket("dedup")
    data = os.urandom(3_000_000)
    first = _stream_upload(hf_xet.XetSession(), local_hub, "local/dedup", data)
    stored = local_hub.stats()["xorb_bytes_stored"]
    second = _stream_upload(hf_xet.XetSession(), local_hub, "local/dedup", data)
    assert second.hash == first.hash
    assert local_hub.stats()["xorb_bytes_stored"] == stored


def test_global_dedup_across_client_caches(local_hub: Any, hf_api: HfApi, tmp_path: Any, monkeypatch: Any) -> None:
    """A client with an empty cache learns existing xorbs through GET /v1/chunks (§3.1, §7.4)."""
    hf_api.create_bucket("gd")
    data = os.urandom(5_000_000)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "cache-a"))
    _stream_upload(hf_xet.XetSession(), local_hub, "local/gd", data)
    before = local_hub.stats()
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "cache-b"))
    _stream_upload(hf_xet.XetSession(), local_hub, "local/gd", data)
    after = local_hub.stats()
    assert after["dedup_hits"] > before["dedup_hits"]
    assert after["xorb_bytes_received"] == before["xorb_bytes_received"]  # nothing re-sent


@pytest.mark.parametrize("policy", ["none", "lz4", "bg4-lz4"])
def test_every_compression_scheme_round_trips(
    local_hub: Any, hf_api: HfApi, monkeypatch: Any, tmp_path: Any, policy: str
) -> None:
    monkeypatch.setenv("HF_XET_XORB_COMPRESSION_POLICY", policy)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / policy))
    hf_api.create_bucket("comp")
    # compressible, float-like data so lz4 and bg4 really compress
    data = b"".join(i.to_bytes(4, "little") * 3 + b"text text " for i in range(120_000))
    info = _stream_upload(hf_xet.XetSession(), local_hub, "local/comp", data)
    _register(hf_api, "local/comp", "c.bin", info.hash)
    if policy != "none":
        stats = local_hub.stats()
        assert stats["xorb_bytes_stored"] < stats["raw_chunk_bytes_stored"]
    out = tmp_path / "c.bin"
    hf_api.download_bucket_files("local/comp", [("c.bin", out)])
    assert out.read_bytes() == data
