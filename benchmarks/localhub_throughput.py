"""How fast the local Hub moves bytes with the official client: ingest, download, resolve, throttling.

The hub runs as its own process (``hf-bucket-sink serve``, via ``_hub.HubProcess``) and the client
is ``hf_xet`` with its default configuration, so the server verifies every xorb (hash recomputed
from every chunk) and every shard exactly as in the tests. Client and server share this machine's
cores; the server's CPU time is reported separately (``*_server_cpu_s``), and
``client_only_ingest_MBps`` is the same upload into hf_xet's in-process ``memory://`` store (no
network, no server): the ceiling the client alone reaches on this machine.

    python benchmarks/localhub_throughput.py [--size-mb 512] [--workdir DIR]

``run(workdir)`` returns a dict of figures (MB = 10^6 bytes); ``benchmarks/run.py`` calls it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _hub import HubProcess  # noqa: E402

MB = 1_000_000
BLOCK = 8 << 20


def _cpu_s(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _upload(hub: HubProcess | None, bucket: str, data: bytes) -> tuple[Any, float]:
    """Stream ``data`` into a new commit; ``hub=None`` uses hf_xet's in-process ``memory://`` store."""
    import hf_xet

    session = hf_xet.XetSession()
    started = time.perf_counter()
    if hub is None:  # the client alone: chunking, hashing, compression, no network, no server
        commit = session.new_upload_commit(endpoint="memory://")
    else:
        commit = session.new_upload_commit(
            token_refresh_url=f"{hub.url}/api/buckets/{bucket}/xet-write-token",
            token_refresh_headers={"Authorization": f"Bearer {hub.token}"},
        )
    # SKIP_SHA256, like huggingface_hub's batch uploads and the sink: SHA-256 alone costs ~20% here.
    stream = commit.start_upload_stream(name="throughput.bin", sha256=hf_xet.SKIP_SHA256)
    view = memoryview(data)
    for i in range(0, len(view), BLOCK):
        stream.write(bytes(view[i : i + BLOCK]))
    meta = stream.finish()
    commit.wait_to_finish()
    return meta.xet_info, time.perf_counter() - started


def _register(hub: HubProcess, bucket: str, path: str, xet_hash: str) -> None:
    parts = urlsplit(hub.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    line = json.dumps({"type": "addFile", "path": path, "xetHash": xet_hash, "mtime": int(time.time() * 1000)})
    conn.request("POST", f"/api/buckets/{bucket}/batch", (line + "\n").encode(),
                 {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/x-ndjson"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200 or json.loads(body)["failed"]:
        raise RuntimeError(f"registering {path} failed: {resp.status} {body[:300]!r}")


def _same(pieces: Any, expected: memoryview) -> bool:
    """Compare a stream of pieces with ``expected`` (memcmp, no hashing on the measured path)."""
    pos = 0
    for piece in pieces:
        if expected[pos : pos + len(piece)] != piece:
            return False
        pos += len(piece)
    return pos == len(expected)


def _download_stream(hub: HubProcess, bucket: str, xet_hash: str, expected: memoryview) -> tuple[bool, float]:
    import hf_xet

    started = time.perf_counter()
    group = hf_xet.XetSession().new_download_stream_group(
        token_refresh_url=f"{hub.url}/api/buckets/{bucket}/xet-read-token",
        token_refresh_headers={"Authorization": f"Bearer {hub.token}"},
    )
    ok = _same(group.download_stream(hf_xet.XetFileInfo(xet_hash, len(expected))), expected)
    group.finish()
    return ok, time.perf_counter() - started


def _resolve_get(hub: HubProcess, bucket: str, path: str, expected: memoryview) -> tuple[bool, float]:
    """GET /buckets/.../resolve/... : the server reassembles the file in Python (HfFileSystem reads)."""
    parts = urlsplit(hub.url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.request("GET", f"/buckets/{bucket}/resolve/{path}", headers={"Authorization": f"Bearer {hub.token}"})
    resp = conn.getresponse()
    if resp.status == 302:  # like production: a signed URL on the hub's CDN origin, fetched without the token
        resp.read()
        conn.close()
        target = urlsplit(resp.getheader("Location") or "")
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        conn.request("GET", f"{target.path}?{target.query}")
        resp = conn.getresponse()
    ok = _same(iter(lambda: resp.read(4 << 20), b""), expected)
    conn.close()
    return ok, time.perf_counter() - started


def run(workdir: Path, *, size_mb: int = 512, throttle_mb: int = 40, throttle_bps: int = 20_000_000) -> dict[str, Any]:
    """Measure ingest / download / resolve MB/s and a throttled upload; returns the figures."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    size = size_mb * MB
    data = os.urandom(size)  # incompressible: stored as scheme 0, every byte crosses the wire
    expected = memoryview(data)
    out: dict[str, Any] = {"size_mb": size_mb, "cpus": os.cpu_count()}
    saved = os.environ.get("HF_XET_CACHE")
    with HubProcess(workdir / "throughput") as hub:
        os.environ["HF_XET_CACHE"] = str(hub.xet_cache)  # read when each XetSession is created
        try:
            bucket = hub.create_bucket("throughput")
            cpu0 = _cpu_s(hub.pid)
            info, ingest_s = _upload(hub, bucket, data)
            cpu1 = _cpu_s(hub.pid)
            _register(hub, bucket, "t.bin", info.hash)
            _, client_only_s = _upload(None, bucket, os.urandom(size))  # fresh bytes: nothing to dedup
            stats = hub.stats()
            out.update(
                ingest_s=round(ingest_s, 3),
                ingest_MBps=round(size / MB / ingest_s, 1),
                ingest_server_cpu_s=round(cpu1 - cpu0, 3),
                client_only_ingest_MBps=round(size / MB / client_only_s, 1),
                xorbs_stored=stats["xorbs_stored"],
                xorb_bytes_received=stats["xorb_bytes_received"],
            )
            ok, download_s = _download_stream(hub, bucket, info.hash, expected)
            cpu2 = _cpu_s(hub.pid)
            if not ok:
                raise RuntimeError("the download stream differs from the upload")
            out.update(
                download_s=round(download_s, 3),
                download_MBps=round(size / MB / download_s, 1),
                download_server_cpu_s=round(cpu2 - cpu1, 3),
            )
            ok, resolve_s = _resolve_get(hub, bucket, "t.bin", expected)
            if not ok:
                raise RuntimeError("the resolve GET differs from the upload")
            out.update(resolve_s=round(resolve_s, 3), resolve_MBps=round(size / MB / resolve_s, 1))

            # The throttled link the benchmarks use: the cap must hold within a few percent.
            _put_bandwidth(hub, throttle_bps)
            small = os.urandom(throttle_mb * MB)
            _, throttled_s = _upload(hub, bucket, small)
            _put_bandwidth(hub, None)
            out.update(
                throttle_MBps_target=throttle_bps / MB,
                throttled_ingest_MBps=round(throttle_mb / throttled_s, 1),
            )
        finally:
            if saved is None:
                os.environ.pop("HF_XET_CACHE", None)
            else:
                os.environ["HF_XET_CACHE"] = saved
    return out


def _put_bandwidth(hub: HubProcess, bps: float | None) -> None:
    parts = urlsplit(hub.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("PUT", "/_localhub/bandwidth", json.dumps({"bytes_per_s": bps}).encode())
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"setting the bandwidth limit failed: {resp.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="localhub-bench-", dir=args.workdir) as tmp:
        result = run(Path(tmp), size_mb=args.size_mb)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
