"""``hf-bucket-sink demo``: stream a real pipeline into a local bucket, read it back, verify.

Starts the local Hub in-process, generates TPC-H ``lineitem`` (W1), streams
``scan -> filter -> derived columns`` into ``hf://buckets/local/demo/lineitem.parquet``,
downloads it with the official client, compares it with the same pipeline collected
locally, then sinks it a second time to show deduplication.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["configure_parser", "run_demo"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=0.1, help="TPC-H scale factor (0.1 = 60k orders, ~20 MB; default 0.1)")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the local Hub's data here (default: a temp dir)")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_demo(args: argparse.Namespace) -> int:
    import polars as pl
    from huggingface_hub import HfApi, HfFileSystem

    import hf_bucket_sink
    from hf_bucket_sink.localhub import LocalHub
    from hf_bucket_sink.cli.workloads import tpch_lineitem, w1_pipeline

    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="hf-bucket-sink-demo-") as tmp:
        # the client's Xet shard cache is per endpoint URL; keep it beside this hub's data
        os.environ.setdefault("HF_XET_CACHE", str(Path(tmp) / "xet-cache"))
        print(f"1/5 generating TPC-H lineitem at scale {args.scale:g} (tpchgen-cli) ...", file=out, flush=True)
        t0 = time.perf_counter()
        lineitem = tpch_lineitem(args.scale)
        print(f"    {lineitem} ({lineitem.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s", file=out)

        with LocalHub(data_dir=args.data_dir) as hub:
            print(f"2/5 local Hub listening at {hub.url} (user {hub.user!r})", file=out)
            api = HfApi(endpoint=hub.url, token=hub.token)
            api.create_bucket(f"{hub.user}/demo", exist_ok=True)
            uri = f"hf://buckets/{hub.user}/demo/lineitem.parquet"
            options = {"token": hub.token, "endpoint": hub.url}

            print(f"3/5 streaming scan -> filter -> derived columns into {uri}", file=out, flush=True)
            result = hf_bucket_sink.sink_parquet(w1_pipeline(lineitem), uri, storage_options=options)
            print(f"    {result}", file=out)
            print(f"    Xet hash {result.xet_hash}; peak RSS of this process so far {_peak_rss_mb():.0f} MB", file=out)

            print("4/5 reading it back with huggingface_hub's HfFileSystem and comparing", file=out, flush=True)
            fs = HfFileSystem(endpoint=hub.url, token=hub.token)
            with fs.open(f"buckets/{hub.user}/demo/lineitem.parquet", "rb", block_size=8 << 20) as f:
                remote = pl.read_parquet(f)
            local = w1_pipeline(lineitem).collect()
            if not remote.equals(local):
                print("    MISMATCH: the bucket file differs from the local result", file=out)
                return 1
            print(f"    identical: {remote.height:,} rows x {remote.width} columns", file=out)

            print("5/5 sinking the same query again: only new chunks travel", file=out, flush=True)
            again = hf_bucket_sink.sink_parquet(w1_pipeline(lineitem), uri, storage_options=options)
            print(f"    {again}", file=out)
            stats = hub.stats()
            print(f"    the local Hub stores {stats.get('xorb_bytes_stored', 0) / 1e6:.1f} MB of xorbs for "
                  f"{(result.size + again.size) / 1e6:.1f} MB written", file=out)
    print("demo ok", file=out)
    return 0
