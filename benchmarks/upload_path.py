"""The upload path alone: pre-encoded bytes from memory (no Polars) through the sink's writer into Xet.

    .venv/bin/python benchmarks/upload_path.py [--mb 512] [--repeat 3] [--json out.json] [--report PATH]

Writes its table to ``docs/benchmarks-upload-path.md`` (regenerated on every run; ``--report -`` prints only);
docs/performance.md section 4 reads its figures and the per-file cap from there.

Feeds incompressible bytes (like zstd Parquet pages: nothing for LZ4 or dedup to win) in 8 KiB, 64 KiB
and 1 MiB writes (Polars' Parquet sink writes mostly 8 KiB pieces, its CSV sink ~3 MB ones) through
``UploadSession.open_writer`` (:class:`~hf_bucket_sink.core.writers.BucketWriter`: the queue and the
single uploader thread), into

- ``hub``: a fresh local Hub process (``hf-bucket-sink serve``), then registered: the full path;
- ``local``: hf_xet's own on-disk store (``casUrl = local://<dir>``): chunking, hashing, xorbs and
  shards with no network and no server CPU;
- ``raw-local``: the same bytes written straight into ``XetStreamUpload.write`` in the writer's
  block size, without our writer: what hf_xet alone costs, to see what the writer adds;
- ``raw-hub``: the same, into a fresh local Hub (stored, not registered): hf_xet's own cost and
  memory on the full network path, the floor under ``hub``.

Every timed run is a fresh Python process with a fresh Xet cache (``HF_XET_CACHE``/``HF_HOME`` in a
temp dir) and, for ``hub``, a fresh local Hub. Reported per case: MB/s by wall clock and MB/s per
core used (bytes / process CPU seconds, all threads), and the peak RSS above the start of the timed
region (``VmHWM`` reset through ``/proc/self/clear_refs`` once the input bytes are in memory), medians
of ``--repeat`` runs with the range. The memory column is what the upload holds in flight, ours and
hf_xet's; ``raw-*`` shows hf_xet's share alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MB = 1e6
CASES = ("hub", "local", "raw-local", "raw-hub")
RAW = ("raw-local", "raw-hub")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the kernel's high-water mark to the current RSS (Linux); returns the RSS in bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux, or not allowed: the peak then includes what came before
        pass
    return _rss_kb("VmRSS") << 10


def _pieces(total: int, piece: int) -> list[bytes]:
    # distinct random bytes per run: nothing deduplicates, nothing compresses
    block = os.urandom(64 << 20)
    out: list[bytes] = []
    made = 0
    while made < total:
        n = min(piece, total - made)
        start = made % (len(block) - piece)
        out.append(os.urandom(16) + block[start + 16 : start + n])  # unique prefix: no chunk repeats
        made += n
    return out


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One timed run, in this (fresh) process."""
    import hf_xet

    from hf_bucket_sink.core.credentials import resolve_credentials
    from hf_bucket_sink.core.hub import HubClient, XetAccess
    from hf_bucket_sink.core.paths import BucketPath
    from hf_bucket_sink.core.upload import UploadSession
    from hf_bucket_sink.core.writers import UploadTuning
    from hf_bucket_sink.core.xet import xet_session

    pieces = _pieces(int(args.mb * MB), args.piece)
    total = sum(len(p) for p in pieces)
    tuning = UploadTuning(compression_policy="none", block_bytes=args.block)
    target = BucketPath.parse("hf://buckets/bench/b/upload.bin")
    if args.case in ("hub", "raw-hub"):
        hub = HubClient(resolve_credentials({"token": args.token, "endpoint": args.endpoint}))
        bucket = args.bucket
    else:
        hub = HubClient(resolve_credentials({"token": "hf_unused", "endpoint": "http://127.0.0.1:9"}))
        bucket = "bench/b"
    access = hub.xet_token(bucket, write=True) if args.case in ("hub", "raw-hub") else None
    start_rss = _reset_peak()
    t0, c0 = time.perf_counter(), _cpu()
    if args.case in RAW:
        if access is None:
            commit = xet_session("none").new_upload_commit(endpoint=f"local://{args.store}")
        else:
            commit = xet_session("none").new_upload_commit(
                endpoint=access.cas_url, token=access.access_token, token_expiry_unix_secs=access.expires_at)
        stream = commit.start_upload_stream(name="upload.bin", sha256=hf_xet.SKIP_SHA256)
        buf: list[bytes] = []
        pending = 0
        for p in pieces:
            buf.append(p)
            pending += len(p)
            if pending >= args.block:
                stream.write(b"".join(buf))
                buf, pending = [], 0
        if buf:
            stream.write(b"".join(buf))
        stream.finish()
        commit.wait_to_finish()
    else:
        if access is None:
            access = XetAccess(f"local://{args.store}", "unused", int(time.time()) + 86400, "http://127.0.0.1:9/unused")
        with UploadSession(hub, bucket, access, tuning=tuning) as session:
            writer = session.open_writer(target if args.case != "hub" else BucketPath.parse(f"hf://buckets/{bucket}/upload.bin"))
            for p in pieces:
                writer.write(p)
            if args.case == "hub":
                session.commit()
            else:
                session.store()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    peak_over_start = (_rss_kb("VmHWM") << 10) - start_rss
    return {"case": args.case, "bytes": total, "wall_s": wall, "cpu_s": cpu, "piece": args.piece, "block": args.block,
            "peak_over_start_mb": peak_over_start / MB}


def _run_child(case: str, mb: float, piece: int, block: int) -> dict[str, Any]:
    from _hub import HubProcess

    with tempfile.TemporaryDirectory(prefix="hfbs-upload-path-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "HF_XET_CACHE": str(root / "xet"), "HF_HOME": str(root / "home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        out = root / "out.json"
        argv = [sys.executable, __file__, "--child", case, "--mb", str(mb), "--piece", str(piece), "--block", str(block),
                "--out", str(out), "--store", str(root / "store")]
        if case in ("hub", "raw-hub"):
            with HubProcess(root / "hub") as hub:
                bucket = hub.create_bucket("b")
                env["HF_XET_CACHE"] = str(hub.xet_cache)
                argv += ["--endpoint", hub.url, "--token", hub.token, "--bucket", bucket]
                subprocess.run(argv, env=env, check=True)
        else:
            (root / "store").mkdir()
            subprocess.run(argv, env=env, check=True)
        return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=512.0, help="bytes per run, in MB (default 512)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--machine-shared", action="store_true", help="say in the doc that other jobs shared the machine (a load average cannot tell: the benchmark raises it itself)")
    parser.add_argument("--pieces", type=int, nargs="+", default=[8192, 65536, 1 << 20], help="write() sizes")
    parser.add_argument("--blocks", type=int, nargs="+", default=[4 << 20], help="writer block sizes")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    parser.add_argument("--report", default=str(HERE.parent / "docs" / "benchmarks-upload-path.md"),
                        help="Markdown report to (re)write; '-' for none (default docs/benchmarks-upload-path.md)")
    # child mode
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--piece", type=int, default=8192, help=argparse.SUPPRESS)
    parser.add_argument("--block", type=int, default=4 << 20, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.case = args.child
        assert args.out is not None
        args.out.write_text(json.dumps(child(args)))
        return 0

    started, load0 = time.perf_counter(), os.getloadavg()
    combos = [(c, p, b) for c in args.cases for b in args.blocks for p in (args.pieces if c not in RAW else [1 << 20])]
    runs: dict[tuple[str, int, int], list[dict[str, Any]]] = {k: [] for k in combos}
    for rep in range(args.repeat):  # interleaved: drift on a shared machine hits every case alike
        for key in combos:
            r = _run_child(key[0], args.mb, key[1], key[2])
            runs[key].append(r)
            print(f"[{rep + 1}/{args.repeat}] {key[0]:9s} piece {key[1]:>8d} block {key[2] >> 20:>3d} MiB: "
                  f"{r['bytes'] / MB / r['wall_s']:7.0f} MB/s wall, {r['bytes'] / MB / r['cpu_s']:7.0f} MB/s per core "
                  f"({r['cpu_s'] / r['wall_s']:.2f} cores), peak +{r['peak_over_start_mb']:.0f} MB", flush=True)
    lines = [f"Upload path, {args.mb:g} MB of incompressible bytes per run, medians of {args.repeat} fresh-process runs (range):",
             "", "| case | write() size | block | MB/s (wall) | MB/s per core (CPU) | cores used | peak RSS above start, MB |",
             "|---|---|---|---|---|---|---|"]
    for (case, piece, block), rs in runs.items():
        wall = [r["bytes"] / MB / r["wall_s"] for r in rs]
        per_core = [r["bytes"] / MB / r["cpu_s"] for r in rs]
        cores = [r["cpu_s"] / r["wall_s"] for r in rs]
        peak = [r["peak_over_start_mb"] for r in rs]
        piece_txt = "–" if case in RAW else (f"{piece >> 10} KiB" if piece < (1 << 20) else f"{piece >> 20} MiB")
        lines.append(f"| {case} | {piece_txt} | {block >> 20} MiB | {statistics.median(wall):,.0f} ({min(wall):,.0f}–{max(wall):,.0f}) | "
                     f"{statistics.median(per_core):,.0f} ({min(per_core):,.0f}–{max(per_core):,.0f}) | {statistics.median(cores):.2f} | "
                     f"{statistics.median(peak):,.0f} ({min(peak):,.0f}–{max(peak):,.0f}) |")
    print()
    print("\n".join(lines))
    if args.report != "-":
        _write_report(Path(args.report), lines, argv, load0, os.getloadavg(), time.perf_counter() - started, args.machine_shared)
    if args.json:
        args.json.write_text(json.dumps([r for rs in runs.values() for r in rs], indent=1))
    return 0


def _write_report(path: Path, table: list[str], argv: list[str] | None, load0: tuple[float, ...], load1: tuple[float, ...],
                  seconds: float, shared: bool) -> None:
    import datetime as dt
    import platform

    model = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    command = " ".join(["benchmarks/upload_path.py", *(argv if argv is not None else sys.argv[1:])])
    text = [
        "# Benchmark: the upload path alone (issue 20)",
        "",
        f"Generated by `.venv/bin/python {command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(took {seconds / 60:.1f} min); regenerated on every run — do not edit by hand. Machine: {model}, "
        f"{os.cpu_count()} logical cores; load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load0)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in load1)} at the end"
        + (" — **machine shared**: other jobs used the cores, wall figures are low and noisy." if shared else "."),
        "",
        *table,
        "",
        "`hub`: `UploadSession.open_writer` (our `BucketWriter`: queue + one uploader thread) into a fresh local Hub "
        "process, registered; `local`: the same writer into hf_xet's own on-disk store (`local://`, no network, no "
        "server); `raw-local`: the bytes written straight into `XetStreamUpload.write` in the writer's block size, "
        "without our writer; `raw-hub`: the same into a fresh local Hub process (stored, not registered). Peak RSS above "
        "start: the process's `VmHWM` over the timed upload minus its RSS when it began (the input bytes are already in "
        "memory then), i.e. what the upload holds in flight: our queue and hf_xet's pipeline; `raw-*` rows are hf_xet's "
        "alone. Each run is a fresh process with a fresh Xet cache and HF_HOME. MB/s per core = bytes / "
        "process CPU seconds (all threads); cores used = CPU / wall. MB = 10^6 bytes. What the figures mean for a "
        "many-core machine: docs/performance.md, section 4.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
