"""Ray datasink benchmark: W1 written through ``BucketDatasink`` with 1 and 2 Ray workers.

    .venv/bin/python benchmarks/ray_datasink.py [--scale 1] [--blocks 8] [--workdir DIR] [--no-docs]

W1 (TPC-H lineitem at ``--scale``, filtered, with derived columns) is materialised once as
``--blocks`` local Parquet files (Polars, row groups of 122,880 rows), then for each worker count
a fresh local Ray cluster (``num_cpus`` = workers, usage stats off, workers started and warmed
before the clock) writes the files with ``.write_datasink(BucketDatasink(...))``, one task per file
against a fresh local Hub (``hf-bucket-sink serve`` in its own process, empty data dir and Xet
cache). The source is ``from_items(paths).map_batches(<read row groups>)``, fused with the write:
each task reads its file row group by row group from local disk and streams it into one bucket
file (``read_parquet`` would pack the small files into a single task).

Measured: wall time of ``write_datasink`` (preflight, tasks, registration), throughput (file bytes
and rows per second), peak RSS of each worker process (``ru_maxrss`` reported by the tasks),
file bytes stored and bytes sent to Xet storage. ``run(workdir)`` returns the dict;
``__main__`` writes docs/benchmarks-ray.md (``--no-docs`` to skip). The machine is a shared
2-core VM: the local Hub, the driver and the workers share those 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # sibling helper modules (_hub) when run as a script

from _hub import HubProcess  # noqa: E402

from hf_bucket_sink.cli.workloads import tpch_lineitem, w1_pipeline  # noqa: E402

MB = 1_000_000


def _w1_files(scale: float, parts: int, workdir: Path) -> tuple[Path, int, int]:
    """W1 as ``parts`` local Parquet files (Ray reads one task per file): (folder, rows, bytes)."""
    import polars as pl

    target = workdir / f"w1-sf{scale:g}-{parts}"
    if not target.exists():
        tmp = target.with_name(target.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        lf = w1_pipeline(tpch_lineitem(scale))
        rows = lf.select(pl.len()).collect().item()
        step = -(-rows // parts)
        for i in range(parts):
            lf.slice(i * step, step).sink_parquet(tmp / f"part-{i:03d}.parquet", row_group_size=122_880)
        tmp.rename(target)
    files = sorted(target.glob("*.parquet"))
    rows = pl.scan_parquet(files).select(pl.len()).collect().item()
    return target, rows, sum(f.stat().st_size for f in files)


def _warm_up(workers: int) -> None:
    """Start the worker processes and import the write path in them before the clock starts."""
    import ray

    @ray.remote(num_cpus=1)
    def touch() -> int:
        import hf_bucket_sink.ray  # noqa: F401

        time.sleep(0.5)  # hold the CPU so the next call lands on another worker
        return os.getpid()

    ray.get([touch.remote() for _ in range(workers)])


def _row_groups(batch: Any) -> Any:
    """Ray UDF: the rows of one local Parquet file, one row group per output block."""
    import pyarrow.parquet as pq

    for path in batch["path"].to_pylist():
        reader = pq.ParquetFile(path)
        for i in range(reader.num_row_groups):
            yield reader.read_row_group(i)


def _one(workers: int, source: Path, root: Path) -> dict[str, Any]:
    import ray

    from hf_bucket_sink.ray import BucketDatasink

    with HubProcess(root) as hub:
        bucket = hub.create_bucket("ray")
        env = {
            "HF_TOKEN": hub.token, "HF_ENDPOINT": hub.url, "HF_XET_CACHE": str(hub.xet_cache),
            "HF_HOME": str(root / "hf-home"), "RAY_USAGE_STATS_ENABLED": "0",
        }
        os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            sink = BucketDatasink(f"hf://buckets/{bucket}/w1/", storage_options={"token": hub.token, "endpoint": hub.url})
            _warm_up(workers)
            files = sorted(str(f) for f in source.glob("*.parquet"))
            # one task per source file (read_parquet packs small files into one task), reading row group by row group
            ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files)).map_batches(
                _row_groups, batch_size=1, batch_format="pyarrow"
            )
            started = time.perf_counter()
            ds.write_datasink(sink)
            wall = time.perf_counter() - started
        finally:
            ray.shutdown()
    result = sink.result
    assert result is not None
    peak_by_pid: dict[int, int] = {}
    for task in sink.tasks:
        peak_by_pid[task.pid] = max(peak_by_pid.get(task.pid, 0), task.peak_rss_bytes)
    return {
        "workers": workers,
        "tasks": len(sink.tasks),
        "files": len(result.files),
        "rows": result.rows,
        "wall_s": wall,
        "file_bytes": result.size,
        "sent_bytes": result.uploaded_bytes,
        "mb_per_s": result.size / wall / MB,
        "rows_per_s": (result.rows or 0) / wall,
        "task_seconds": sorted(round(t.seconds, 2) for t in sink.tasks),
        "peak_rss_mb_per_worker": sorted(round(v / MB) for v in peak_by_pid.values()),
    }


def run(workdir: Path, *, scale: float = 1.0, blocks: int = 8) -> dict[str, Any]:
    """Write W1 through the datasink with 1 and 2 workers; return the figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    source, rows, size = _w1_files(scale, blocks, workdir)
    runs = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            runs.append(_one(workers, source, Path(tmp)))
    return {"scale": scale, "blocks": blocks, "source_rows": rows, "source_bytes": size, "runs": runs}


def _markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Ray datasink benchmark",
        "",
        f"W1 at scale {res['scale']:g} ({res['source_rows']:,} rows; {res['source_bytes'] / MB:.0f} MB as {res['blocks']} local "
        "Parquet files), one Ray task per file reading it row group by row group, fused with the write, "
        "into `write_datasink(BucketDatasink(\"hf://buckets/…/w1/\"))` (Parquet, zstd) on a fresh local Hub. "
        "Produced by `python benchmarks/ray_datasink.py` on a shared 2-core VM: the local Hub, the Ray driver and "
        "the workers share the two cores, so the figures are a lower bound and the 1 → 2 ratio is what to read.",
        "",
        "| workers | tasks | files | wall (s) | throughput (MB/s) | rows/s | peak RSS per worker (MB) | file bytes (MB) | sent to Xet (MB) |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in res["runs"]:
        lines.append(
            f"| {r['workers']} | {r['tasks']} | {r['files']} | {r['wall_s']:.1f} | {r['mb_per_s']:.1f} | "
            f"{r['rows_per_s'] / 1e6:.2f} M | {', '.join(map(str, r['peak_rss_mb_per_worker']))} | "
            f"{r['file_bytes'] / MB:.1f} | {r['sent_bytes'] / MB:.1f} |"
        )
    one, two = res["runs"][0], res["runs"][1]
    lines += [
        "",
        f"Speed-up 1 → 2 workers: {one['wall_s'] / two['wall_s']:.2f}×. Wall time includes the driver's preflight and "
        "registration (one `/batch` call here); with 2 workers the local Hub, the driver and both workers compete "
        "for the same 2 cores, which caps the speed-up. Peak RSS is the worker process's `ru_maxrss` (Ray reuses "
        "workers, so it covers every task the process ran). Its terms: the Ray worker with pyarrow, Polars and hf_xet "
        "loaded (~200 MB), the Ray block being written (Ray coalesces the UDF's row groups into blocks of up to "
        "`DataContext.target_max_block_size`, 128 MiB), one Parquet row group pending in the writer, the upload "
        "buffers (≤ 32 MiB) and hf_xet's in-flight window (≈130 MB). None of them depends on the size of the dataset "
        "or of a task's file; the block term depends on Ray's block size (at scale 0.1, 3 MB per task, the same run "
        "peaked at 340-375 MB).",
        "",
        "## Scaling past one machine",
        "",
        "Tasks are independent until the driver registers: each task resolves its own token, gets its own Xet write "
        "token and uploads straight to CAS, so adding nodes adds upload bandwidth and CPU for encoding and chunking "
        "linearly, with no data flowing through the driver. What limits it:",
        "",
        "- **CAS throughput.** Every byte goes to Xet storage from the workers; aggregate throughput is bounded by the "
        "nodes' uplinks and by what the CAS accepts per bucket/namespace (rate limits on xorb and shard uploads). "
        "Deduplication helps re-runs: chunks already stored are not sent again.",
        "- **The batch API.** Registration is serial on the driver: one `/batch` request per 1,000 files. It is cheap "
        "per file (a few hundred bytes of NDJSON per line), but it is a single sequential step after the last task, "
        "and above 1,000 files the output becomes visible batch by batch (hence `_manifest.json` last).",
        "- **The number of files.** Files = tasks × ceil(task bytes / `target_bytes_per_file`). Many small tasks give "
        "many small files: more registration lines, more per-file overhead for readers, a longer listing. Use "
        "`min_rows_per_write` to give each task more rows and `target_bytes_per_file` to cap file size "
        "(hundreds of MB per file is a good target); the task count, not the node count, sets the parallelism.",
        "- **The driver.** It holds every file record (≈200 bytes each) until registration: millions of files are "
        "fine in memory, but registration time grows linearly with them.",
        "",
        "<details><summary>raw figures</summary>",
        "",
        "```json",
        json.dumps(res, indent=1),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--blocks", type=int, default=8, help="local source files = write tasks")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / "hf-bucket-sink-ray-bench"
    res = run(workdir, scale=args.scale, blocks=args.blocks)
    print(json.dumps(res, indent=1))
    if not args.no_docs:
        (REPO / "docs" / "benchmarks-ray.md").write_text(_markdown(res))
        print("wrote docs/benchmarks-ray.md")


if __name__ == "__main__":
    main()
