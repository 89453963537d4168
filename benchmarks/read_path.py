"""Read-path benchmark: a filtered scan of a large CSV and NDJSON file from a bucket (streamed through
hf_xet, parsed piece by piece) against Polars reading the same file from local disk, in one run.

    python benchmarks/read_path.py --size-mb 1100 --runs 3      # writes docs/benchmarks-read-stream.json

Each timed run gets a fresh local Hub and a fresh Xet cache (HF_HOME / HF_XET_CACHE in a new temp
folder); the file is uploaded, then the scan runs in a child process whose peak RSS is the kernel's
``ru_maxrss`` from ``os.wait4`` and whose wall is spawn to exit. Polars' local read runs in a child the
same way, right after, on the same file. Figures are medians over the runs with min-max spread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import sys, time, polars as pl
mode, fmt, source, endpoint, token = sys.argv[1:6]
t0 = time.perf_counter()
if mode == "bucket":
    import hf_bucket_sink
    lf = getattr(hf_bucket_sink, f"scan_{fmt}")(source, storage_options={"token": token, "endpoint": endpoint})
else:
    lf = getattr(pl, f"scan_{fmt}")(source)
out = lf.filter(pl.col("k") == 3).select(pl.len(), pl.col("x").sum()).collect(engine="streaming")
print(time.perf_counter() - t0, out.row(0))
"""


def write_file(path: Path, fmt: str, size_mb: int) -> int:
    import polars as pl

    rows = 200_000
    chunk = pl.select(id=pl.int_range(rows)).with_columns(
        k=pl.col("id") % 10, x=pl.col("id") / 7, name=pl.format("row {} of a text column", pl.col("id"))
    )
    with open(path, "wb") as out:
        header = True
        while out.tell() < size_mb * 1_000_000:
            if fmt == "csv":
                chunk.write_csv(out, include_header=header)
            else:
                chunk.write_ndjson(out)
            header = False
    return path.stat().st_size


def child(mode: str, fmt: str, source: str, endpoint: str, token: str, env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, fmt, source, endpoint, token], env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise RuntimeError(f"{mode} {fmt} child failed ({status}): {out}")
    return {"wall_s": wall, "maxrss_mb": usage.ru_maxrss / 1024, "answer": out.split(" ", 1)[1].strip()}


def one_run(fmt: str, size_mb: int) -> dict[str, Any]:
    from huggingface_hub import HfApi

    from hf_bucket_sink.localhub import LocalHub

    with tempfile.TemporaryDirectory(prefix="read-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "HF_HOME": str(root / "hf"), "HF_XET_CACHE": str(root / "xet"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        os.environ.update({k: env[k] for k in ("HF_HOME", "HF_XET_CACHE", "HF_HUB_DISABLE_PROGRESS_BARS")})
        t0 = time.perf_counter()
        local = root / f"data.{fmt}"
        size = write_file(local, fmt, size_mb)
        with LocalHub(data_dir=root / "hub") as hub:
            api = HfApi(endpoint=hub.url, token=hub.token)
            api.create_bucket(f"{hub.user}/bench")
            api.batch_bucket_files(f"{hub.user}/bench", add=[(str(local), f"data.{fmt}")])
            print(f"{fmt}: {size / 1e6:.0f} MB written and uploaded in {time.perf_counter() - t0:.0f} s", flush=True)
            bucket = child("bucket", fmt, f"hf://buckets/{hub.user}/bench/data.{fmt}", hub.url, hub.token, env)
            polars = child("local", fmt, str(local), "", "", env)
        got, want = eval(bucket["answer"]), eval(polars["answer"])  # (count, float sum): sums differ in the last digits by order
        assert got[0] == want[0] and abs(got[1] - want[1]) <= 1e-9 * abs(want[1]), (bucket, polars)
        return {"size_bytes": size, "bucket": bucket, "polars_local": polars}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="csv,ndjson")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks-read-stream.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"size_mb": args.size_mb, "runs": args.runs, "cpus": os.cpu_count(), "formats": {}}
    for fmt in args.formats.split(","):
        runs = [one_run(fmt, args.size_mb) for _ in range(args.runs)]
        result["formats"][fmt] = {
            "size_bytes": runs[0]["size_bytes"],
            "bucket_wall_s": summary([r["bucket"]["wall_s"] for r in runs]),
            "bucket_maxrss_mb": summary([r["bucket"]["maxrss_mb"] for r in runs]),
            "polars_wall_s": summary([r["polars_local"]["wall_s"] for r in runs]),
            "polars_maxrss_mb": summary([r["polars_local"]["maxrss_mb"] for r in runs]),
            "rss_ratio": summary([r["bucket"]["maxrss_mb"] / r["polars_local"]["maxrss_mb"] for r in runs]),
            "wall_ratio": summary([r["bucket"]["wall_s"] / r["polars_local"]["wall_s"] for r in runs]),
        }
        print(fmt, json.dumps(result["formats"][fmt], indent=1), flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
