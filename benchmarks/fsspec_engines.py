"""This package's fsspec filesystem vs ``huggingface_hub.HfFileSystem`` on the same engine writes.

Engines: pandas ``to_parquet``, pyarrow ``ParquetWriter``, DuckDB ``COPY`` (one file and ``PARTITION_BY``),
Dask ``to_parquet`` (threaded). Each timed run is its own child process with a fresh local Hub
(``hf-bucket-sink serve``), a fresh Xet cache / HF_HOME and an empty TMPDIR; the parent samples the
child's RSS and the TMPDIR's size every 20 ms. Wall is the write alone (data built before the clock).

    python benchmarks/fsspec_engines.py --rows 3000000 --small-rows 1000000 --runs 3 [--small-runs 1] [--out docs/benchmarks-fsspec.json]

Figures: median and (min-max) over the runs; ratios against ``HfFileSystem`` measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

ENGINES = ("pandas", "pyarrow", "duckdb", "duckdb_partition", "dask")
KINDS = ("bucket", "hffs")


def _frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(rows), "k": rng.integers(0, 8, rows), "a": rng.random(rows), "b": rng.random(rows), "c": rng.random(rows)})


def child(engine: str, kind: str, rows: int, url: str, token: str, user: str) -> None:
    """Run one write and print {"wall_s", "bytes"}."""
    import fsspec

    if kind == "bucket":
        import hf_bucket_sink

        hf_bucket_sink.install()
    fs = fsspec.filesystem("hf", endpoint=url, token=token)
    df = _frame(rows)
    target = f"hf://buckets/{user}/bench/out"
    start = time.perf_counter()
    if engine == "pandas":
        with fs.open(f"{target}.parquet", "wb") as f:
            df.to_parquet(f, compression=None)
    elif engine == "pyarrow":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        with fs.open(f"{target}.parquet", "wb") as f, pq.ParquetWriter(f, table.schema, compression="none") as w:
            for batch in table.to_batches(max_chunksize=500_000):
                w.write_batch(batch)
    elif engine.startswith("duckdb"):
        import duckdb

        con = duckdb.connect()
        con.register_filesystem(fs)
        con.register("src", df)
        if engine == "duckdb":
            con.execute(f"COPY src TO '{target}.parquet' (FORMAT parquet, COMPRESSION uncompressed)")
        elif kind == "bucket":
            with fs.transaction:
                con.execute(f"COPY src TO '{target}' (FORMAT parquet, COMPRESSION uncompressed, PARTITION_BY (k))")
        else:
            con.execute(f"COPY src TO '{target}' (FORMAT parquet, COMPRESSION uncompressed, PARTITION_BY (k))")
    elif engine == "dask":
        import dask
        import dask.dataframe as dd

        ddf = dd.from_pandas(df, npartitions=8)
        with dask.config.set(scheduler="threads", num_workers=2):
            if kind == "bucket":
                with fs.transaction:
                    ddf.to_parquet(target, filesystem=fs, write_index=False, compression=None)
            else:
                ddf.to_parquet(target, filesystem=fs, write_index=False, compression=None)
    wall = time.perf_counter() - start
    size = sum(e["size"] for e in fs.find(f"hf://buckets/{user}/bench", detail=True, refresh=True).values())
    print(json.dumps({"wall_s": wall, "bytes": size}))


def one_run(engine: str, kind: str, rows: int) -> dict[str, float]:
    import psutil
    from _hub import HubProcess
    from huggingface_hub import HfApi

    with tempfile.TemporaryDirectory(prefix="fsspec-bench-") as tmp:
        root = Path(tmp)
        spool = root / "tmp"
        spool.mkdir()
        with HubProcess(root) as hub:
            HfApi(endpoint=hub.url, token=hub.token).create_bucket(f"{hub.user}/bench")
            env = {**os.environ, "TMPDIR": str(spool), "HF_HOME": str(root / "hf-home"), "HF_XET_CACHE": str(hub.xet_cache),
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", engine, kind, str(rows), hub.url, hub.token, hub.user],
                env=env, stdout=subprocess.PIPE, text=True,
            )
            peak = {"rss": 0, "tmp": 0}
            done = threading.Event()

            def sample() -> None:
                p = psutil.Process(proc.pid)
                while not done.is_set():
                    try:
                        peak["rss"] = max(peak["rss"], p.memory_info().rss)
                    except psutil.Error:
                        pass
                    try:
                        peak["tmp"] = max(peak["tmp"], sum(f.stat().st_size for f in spool.rglob("*") if f.is_file()))
                    except OSError:
                        pass
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            out, _ = proc.communicate(timeout=900)
            done.set()
            sampler.join()
            if proc.returncode != 0:
                raise RuntimeError(f"{engine}/{kind} failed (exit {proc.returncode})")
            result = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": result["wall_s"], "bytes": result["bytes"], "peak_rss_mb": peak["rss"] / 1e6, "peak_tmp_mb": peak["tmp"] / 1e6}


def _stat(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=6)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--small-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-runs", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        engine, kind, rows, url, token, user = args.child
        child(engine, kind, int(rows), url, token, user)
        return
    results: dict[str, Any] = {"rows": args.rows, "small_rows": args.small_rows, "runs": args.runs, "engines": {}}
    for engine in args.engines.split(","):
        entry: dict[str, Any] = {}
        for kind in KINDS:
            try:
                runs = [one_run(engine, kind, args.rows) for _ in range(args.runs)]
            except RuntimeError as exc:  # HfFileSystem cannot do every write (DuckDB PARTITION_BY)
                entry[kind] = {"error": str(exc)}
                continue
            entry[kind] = {k: _stat([r[k] for r in runs]) for k in runs[0]}
        small = [one_run(engine, "bucket", args.small_rows) for _ in range(args.small_runs)]
        entry["bucket_small"] = {k: _stat([r[k] for r in small]) for k in small[0]}
        if "error" not in entry["hffs"]:
            entry["wall_ratio_vs_hffs"] = entry["bucket"]["wall_s"]["median"] / entry["hffs"]["wall_s"]["median"]
        results["engines"][engine] = entry
        print(json.dumps({engine: entry}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
