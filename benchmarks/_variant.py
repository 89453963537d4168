"""One benchmark variant, run in a fresh process by ``benchmarks/run.py``.

    python benchmarks/_variant.py KIND --workload w1 --scale 1 --workdir DIR --out result.json \
        [--endpoint URL --token T --bucket ns/b --path-in-bucket x.parquet] \
        [--throttle-bps N] [--compression-policy none|auto]

KIND is one of ``local``, ``local-throttled``, ``bucket``, ``workaround``, ``loop`` (``--loop N`` small
sinks of a 1,000-row frame into the bucket after one warm-up sink, then the same N into local files:
the fixed cost per sink a loop notices).  The parent measures
the whole process (``os.wait4`` rusage: peak RSS, CPU; wall clock; RSS samples); this child
reports what only it can see: the wall and CPU time of the sink itself (imports and interpreter
start-up excluded, so ratios are not diluted by fixed costs) and the ``SinkResult`` figures.
A fresh process per variant keeps one variant's allocator high-water mark out of the next.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from hf_bucket_sink.cli.workloads import flights_csv, tpch_lineitem, w1_pipeline, w2_pipeline

KINDS = ("local", "local-fileobj", "local-throttled", "bucket", "workaround", "loop")
WORKLOADS = ("w1", "w1plus", "w2")


class ThrottledFile(io.RawIOBase):
    """A local file whose ``write()`` sleeps to hold ``bps`` bytes/s: a slow link without a network.

    This is the Polars run-ahead reference: with a slow consumer, how much does Polars' own
    streaming sink buffer before its writes block?  (No hf_xet, no server involved.)
    """

    def __init__(self, path: Path, bps: float) -> None:
        super().__init__()
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._bps = bps
        self._start = time.perf_counter()
        self._sent = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        n = self._f.write(data)
        self._sent += n
        # sleep until the bytes written so far "fit" the rate since the first write
        ahead = self._sent / self._bps - (time.perf_counter() - self._start)
        if ahead > 0:
            time.sleep(ahead)
        return n

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
        super().close()


def build_pipeline(workload: str, scale: float) -> pl.LazyFrame:
    """The LazyFrame of a standard workload (inputs are generated/cached by the parent beforehand)."""
    if workload == "w1":
        return w1_pipeline(tpch_lineitem(scale))
    if workload == "w1plus":
        # W3's "1% more rows": W1 followed by a copy of its first 1% of rows, so every byte of the
        # original file's data pages is still produced, in order, and only the tail is new.
        lineitem = tpch_lineitem(scale)
        rows = pl.scan_parquet(lineitem).select(pl.len()).collect().item()  # footer metadata only
        lf = w1_pipeline(lineitem)
        return pl.concat([lf, lf.head(max(rows // 100, 1))])
    if workload == "w2":
        return w2_pipeline(flights_csv())
    raise SystemExit(f"unknown workload {workload!r}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_loop(args: argparse.Namespace) -> dict[str, Any]:
    """``args.loop`` small sinks in one process: per-sink wall (median, p10, p90) and CPU, bucket then local."""
    import statistics

    import hf_bucket_sink

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    df = pl.DataFrame({"a": range(1000), "b": [f"s{i}" for i in range(1000)]})
    opts = {"token": args.token, "endpoint": args.endpoint}
    # the first sink pays the imports' lazy parts and the hf_xet session: not what a loop repeats
    hf_bucket_sink.sink_parquet(df, f"hf://buckets/{args.bucket}/warm-up.parquet", storage_options=opts)

    def timed(fn: Any) -> dict[str, float]:
        walls = []
        c0 = _cpu_seconds()
        for i in range(args.loop):
            t = time.perf_counter()
            fn(i)
            walls.append(time.perf_counter() - t)
        cpu = _cpu_seconds() - c0
        walls.sort()
        return {"wall_ms_median": 1000 * statistics.median(walls), "wall_ms_p10": 1000 * walls[len(walls) // 10],
                "wall_ms_p90": 1000 * walls[(9 * len(walls)) // 10], "cpu_ms": 1000 * cpu / args.loop}

    bucket = timed(lambda i: hf_bucket_sink.sink_parquet(df, f"hf://buckets/{args.bucket}/loop/{i}.parquet", storage_options=opts))
    local = timed(lambda i: df.lazy().sink_parquet(workdir / f"{i}.parquet"))
    return {"kind": "loop", "n": args.loop, "bucket": bucket, "local": local,
            "wall_s": bucket["wall_ms_median"] / 1000, "cpu_s": bucket["cpu_ms"] / 1000}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the variant and return the figures the parent cannot measure from outside."""
    if args.kind == "loop":
        return run_loop(args)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lf = build_pipeline(args.workload, args.scale)
    out: dict[str, Any] = {"kind": args.kind, "workload": args.workload, "scale": args.scale}
    if args.kind == "bucket":
        # imported before the clock starts, as Polars is: a user's script imports once, at the top
        import hf_bucket_sink  # noqa: F401
        from hf_bucket_sink.polars import sinks  # noqa: F401

    t0, c0 = time.perf_counter(), _cpu_seconds()
    if args.kind == "local":
        target = workdir / "out.parquet"
        lf.sink_parquet(target)
        out["size"] = target.stat().st_size
    elif args.kind in ("local-throttled", "local-fileobj"):
        # local-fileobj: the same file through a Python file object at full speed, the path Polars takes
        # for any writer that is not a path (ours included): the floor under the bucket sink's CPU
        target = workdir / "out.parquet"
        writer = ThrottledFile(target, args.throttle_bps if args.kind == "local-throttled" else float("inf"))
        try:
            lf.sink_parquet(writer)
        finally:
            writer.close()  # Polars never closes a file object it was given
        out["size"] = target.stat().st_size
    elif args.kind == "bucket":
        import hf_bucket_sink
        from hf_bucket_sink.polars import sinks

        if args.compression_policy is not None:
            # sink_parquet has no parameter for UploadTuning (it picks the policy per format), so
            # replace the name sinks.py looks up at call time with one that forces the policy:
            # the production code path otherwise.
            from hf_bucket_sink.core.writers import UploadTuning

            policy = args.compression_policy

            def forced(**kwargs: Any) -> UploadTuning:
                return UploadTuning(**{**kwargs, "compression_policy": policy})

            sinks.UploadTuning = forced  # type: ignore[misc,assignment]
        result = hf_bucket_sink.sink_parquet(
            lf,
            f"hf://buckets/{args.bucket}/{args.path_in_bucket}",
            storage_options={"token": args.token, "endpoint": args.endpoint},
        )
        out.update(
            size=result.size,
            new_bytes=result.new_bytes,
            uploaded_bytes=result.uploaded_bytes,
            dedup_ratio=result.dedup_ratio,
            sink_seconds=result.seconds,
            xet_hash=result.xet_hash,
        )
    elif args.kind == "workaround":
        # Today's workaround: materialise, write a temp file, upload it with huggingface_hub.
        from huggingface_hub import HfApi

        target = workdir / "out.parquet"
        df = lf.collect()
        df.write_parquet(target)
        del df  # as a careful user would; the peak is already behind us
        t_written = time.perf_counter()
        HfApi(endpoint=args.endpoint, token=args.token).batch_bucket_files(
            args.bucket, add=[(str(target), args.path_in_bucket)]
        )
        out["size"] = target.stat().st_size
        out["write_seconds"] = t_written - t0
        out["upload_seconds"] = time.perf_counter() - t_written
    else:
        raise SystemExit(f"unknown kind {args.kind!r}")
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = _cpu_seconds() - c0
    out["self_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--workload", choices=WORKLOADS, default="w1")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", required=True, help="scratch directory for local output files")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--endpoint")
    parser.add_argument("--token")
    parser.add_argument("--bucket", help="ns/name")
    parser.add_argument("--path-in-bucket", default="out.parquet")
    parser.add_argument("--throttle-bps", type=float, default=20e6)
    parser.add_argument("--compression-policy", default=None, help="override UploadTuning.compression_policy")
    parser.add_argument("--loop", type=int, default=100, help="loop: number of small sinks (default 100)")
    args = parser.parse_args(argv)
    if args.kind in ("bucket", "workaround", "loop") and not (args.endpoint and args.token and args.bucket):
        parser.error(f"{args.kind} needs --endpoint, --token and --bucket")
    result = run(args)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
