"""Peak client memory and time of partitioned sinks at 1, 100, 1,000 and 10,000 partitions.

    python benchmarks/partitions.py [--workdir DIR] [--rows N] [--repeats 3]   # writes docs/benchmarks-partitions.md + docs/img/partitions.png

The same data (``--rows`` rows, ~40 B of CSV per row) is sunk into a bucket on a local Hub
(``hf-bucket-sink serve`` in its own process) with ``PartitionBy(key=id % P)`` for
P = 1, 100, 1,000, 10,000, as Parquet, and by Polars alone into a local directory (the baseline,
measured in the same run). Each timed run gets a fresh local Hub, a fresh Xet cache
(``HF_XET_CACHE``/``HF_HOME`` in a new temp dir) and a fresh process; the report gives medians of
``--repeats`` runs with their spread (min-max). Key partitioning is the hard case: Polars keeps a
CSV/NDJSON file open per key while rows arrive (measured: 100 keys -> 100 open files), while
Parquet/IPC files are opened once a row group is ready (<= 8 open). Every point runs in a
fresh process, and reports its peak RSS (``ru_maxrss``) and the RSS after imports (baseline).

``run(workdir) -> dict`` is the entry point for other harnesses.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTITIONS = (1, 100, 1000, 10000)
FORMATS = ("parquet",)
REPEATS = 3
DEFAULT_ROWS = 5_000_000


def _child(url: str, token: str, bucket: str, fmt: str, partitions: int, rows: int, local: str | None) -> dict[str, Any]:
    """One measured sink, in this (fresh) process."""
    warnings.simplefilter("ignore")
    import polars as pl

    import hf_bucket_sink

    lf = (
        pl.LazyFrame({"id": pl.int_range(rows, eager=True)})
        .with_columns(part=pl.col("id") * 7919 % partitions, text=pl.format("doc {} {}", pl.col("id"), pl.col("id").hash(7)))
        .with_columns(score=(pl.col("id") % 1000).cast(pl.Float64) / 8)
    )
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    if local is not None:  # Polars alone, into a local directory: its own share of the memory
        getattr(lf, f"sink_{fmt}")(pl.PartitionBy(f"{local}/p{partitions}-{fmt}/", key="part"), mkdir=True)
        files = [f for f in Path(local, f"p{partitions}-{fmt}").rglob("*") if f.is_file()]
        return {
            "format": fmt, "target": "local (Polars only)", "partitions": partitions, "files": len(files),
            "bytes": sum(f.stat().st_size for f in files), "rows": rows,
            "seconds": round(time.perf_counter() - started, 2), "baseline_rss_mb": round(base_rss / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        }
    result = getattr(hf_bucket_sink, f"sink_{fmt}")(
        lf,
        pl.PartitionBy(f"hf://buckets/{bucket}/p{partitions}-{fmt}/", key="part"),
        storage_options={"token": token, "endpoint": url},
    )
    seconds = time.perf_counter() - started
    return {
        "format": fmt,
        "target": "bucket",
        "partitions": partitions,
        "files": len(result.files),
        "bytes": result.size,
        "rows": result.rows,
        "seconds": round(seconds, 2),
        "baseline_rss_mb": round(base_rss / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
    }


def run(
    workdir: Path, *, rows: int = DEFAULT_ROWS, partitions: tuple[int, ...] = PARTITIONS, formats: tuple[str, ...] = FORMATS,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """Measure every (format, partitions, target) point ``repeats`` times, each in a fresh process with a fresh Hub and cache."""
    from benchmarks._hub import HubProcess

    workdir.mkdir(parents=True, exist_ok=True)
    points = []
    run_no = 0
    # interleave the repeats (round r of every point, then round r+1) so a noisy minute hits all points alike
    for r in range(repeats):
        for fmt, p, local in [(f, p, loc) for f in formats for p in partitions for loc in (True, False)]:
            run_no += 1
            scratch = workdir / f"run{run_no}"
            with HubProcess(scratch / "hub") as hub:
                bucket = hub.create_bucket("partitions")
                cmd = [sys.executable, __file__, "--child", "--url", hub.url, "--token", hub.token, "--bucket", bucket,
                       "--format", fmt, "--partitions", str(p), "--rows", str(rows)]
                if local:
                    cmd += ["--local", str(scratch / "local")]
                env = hub.client_env()
                env["HF_XET_CACHE"] = str(scratch / "xet-cache")
                env["HF_HOME"] = str(scratch / "hf-home")
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"point {fmt}/{p} failed:\n{out.stderr[-3000:]}")
            point = json.loads(out.stdout.strip().splitlines()[-1])
            point["repeat"] = r
            print(f"[{r}] {fmt:8} {point['target']:20} {p:6d} partitions: peak {point['peak_rss_mb']:7.1f} MB (baseline "
                  f"{point['baseline_rss_mb']} MB), {point['files']} files, {point['bytes'] / 1e6:.0f} MB in {point['seconds']} s", flush=True)
            points.append(point)
            subprocess.run(["rm", "-rf", str(scratch)], check=False)
    import platform

    import polars as pl

    return {
        "rows": rows,
        "repeats": repeats,
        "points": points,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "polars": pl.__version__},
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarize(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (format, partitions): medians and spreads of both targets, and the bucket/local ratios."""
    out = []
    keys = sorted({(p["format"], p["partitions"]) for p in figures["points"]})
    for fmt, parts in keys:
        row: dict[str, Any] = {"format": fmt, "partitions": parts}
        for target, tag in (("bucket", "bucket"), ("local (Polars only)", "local")):
            pts = [p for p in figures["points"] if (p["format"], p["partitions"], p["target"]) == (fmt, parts, target)]
            for field in ("peak_rss_mb", "seconds"):
                values = [float(p[field]) for p in pts]
                row[f"{tag}_{field}"] = _median(values)
                row[f"{tag}_{field}_spread"] = (min(values), max(values))
            row[f"{tag}_files"] = pts[0]["files"]
            row[f"{tag}_mb"] = pts[0]["bytes"] / 1e6
        # per-run ratios in the same round, then their median: the baseline moves with the machine's load
        rounds = sorted({p["repeat"] for p in figures["points"]})
        ratios, deltas = [], []
        for r in rounds:
            b = next(p for p in figures["points"] if (p["format"], p["partitions"], p["target"], p["repeat"]) == (fmt, parts, "bucket", r))
            loc = next(p for p in figures["points"] if (p["format"], p["partitions"], p["target"], p["repeat"]) == (fmt, parts, "local (Polars only)", r))
            ratios.append(b["seconds"] / loc["seconds"] if loc["seconds"] else float("nan"))
            deltas.append(b["peak_rss_mb"] - loc["peak_rss_mb"])
        row["time_ratio"], row["time_ratio_spread"] = _median(ratios), (min(ratios), max(ratios))
        row["rss_delta"], row["rss_delta_spread"] = _median(deltas), (min(deltas), max(deltas))
        out.append(row)
    return out


def write_report(figures: dict[str, Any], doc: Path, plot: Path) -> None:
    summary = summarize(figures)
    try:
        import matplotlib
    except ImportError:  # the plot is optional: the table is the result
        matplotlib = None
    if matplotlib is not None:
        _plot(matplotlib, summary, figures, plot)
    _write_doc(summary, figures, doc, plotted=matplotlib is not None)


def _plot(matplotlib: Any, summary: list[dict[str, Any]], figures: dict[str, Any], plot: Path) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for fmt in sorted({r["format"] for r in summary}):
        rows_f = [r for r in summary if r["format"] == fmt]
        for tag, label, style in (("bucket", "bucket", "-"), ("local", "local (Polars only)", ":")):
            ax.plot([r["partitions"] for r in rows_f], [r[f"{tag}_peak_rss_mb"] for r in rows_f], marker="o", linestyle=style,
                    label=f"{fmt} -> {label}")
    ax.set_xscale("log")
    ax.set_xlabel("partitions (files written)")
    ax.set_ylabel("client peak RSS (MB), median")
    ax.set_ylim(bottom=0)
    ax.set_title(f"PartitionBy(key=...), {figures['rows']:,} rows")
    ax.legend()
    fig.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=110)


def _write_doc(summary: list[dict[str, Any]], figures: dict[str, Any], doc: Path, *, plotted: bool) -> None:
    def spread(pair: tuple[float, float], fmt: str = "{:.0f}") -> str:
        return f"{fmt.format(pair[0])}-{fmt.format(pair[1])}"

    table = "\n".join(
        f"| {r['format']} | {r['partitions']:,} | {r['bucket_files']:,} | {r['bucket_mb']:.0f} | "
        f"{r['local_peak_rss_mb']:.0f} ({spread(r['local_peak_rss_mb_spread'])}) | **{r['bucket_peak_rss_mb']:.0f}** ({spread(r['bucket_peak_rss_mb_spread'])}) | "
        f"**{r['rss_delta']:+.0f}** ({spread(r['rss_delta_spread'], '{:+.0f}')}) | "
        f"{r['local_seconds']:.1f} ({spread(r['local_seconds_spread'], '{:.1f}')}) | {r['bucket_seconds']:.1f} ({spread(r['bucket_seconds_spread'], '{:.1f}')}) | "
        f"**{r['time_ratio']:.2f}×** ({spread(r['time_ratio_spread'], '{:.2f}')}) |"
        for r in summary
    )
    m = figures["machine"]
    doc.write_text(
        f"""# Partitioned sinks: memory and time against the number of partitions

Generated by `python benchmarks/partitions.py` ({m['cpus']} CPUs, Python {m['python']}, Polars {m['polars']}).
**The machine was shared with other jobs while this ran** (about six other engineers' builds and
tests on 2 cores), so absolute times are noisy; the ratios compare runs made in the same round.
Each timed run had a fresh local Hub (`hf-bucket-sink serve`, own process), a fresh Xet cache
(`HF_XET_CACHE`, `HF_HOME` in a new temp dir) and a fresh client process. Medians of
{figures['repeats']} runs, spread (min-max) in brackets.

Data: {figures['rows']:,} rows (`id`, `part`, `text`, `score`), sunk with
`PartitionBy(…, key="part")` where `part = id * 7919 % P`: each partition is spread over the whole
input. Baseline: the same query sunk by Polars alone into a local directory, in the same round.

| format | partitions | files | MB written | local peak RSS (MB) | bucket peak RSS (MB) | bucket − local (MB) | local s | bucket s | bucket / local time |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{table}

The bucket time includes the whole commit: every data file registered (≤ 1,000 per `/batch`),
the manifest stored and registered (the commit point, [commit-protocol.md](commit-protocol.md)).

{"![peak RSS against partitions](img/partitions.png)" if plotted else ""}

## What is kept per file

- Per open partition file: a buffer grown on demand up to 1 MiB (`UploadTuning.partition_block_bytes`)
  plus, for Parquet, a 64 KiB tail to read the footer's row count; no thread.
- Per finished file, until the commit: its record (path, size, Xet hash, rows). The tail is
  dropped as soon as Polars releases the file and its row count is parsed (`RowCounter.settle`);
  the previous release kept every tail until the commit (10,000 × 64 KiB = 655 MB).
- hf_xet keeps the data of every *open* upload stream until it is finished, so each partition's
  stream is finished as soon as Polars drops the file object (Polars never calls `close()`).

## Limits

- CSV/NDJSON with key partitioning: Polars keeps a key's file open while its rows arrive and
  completes them all at the end of the query, so memory grows with the keys *open at once*
  (not measured in this run; `max_rows_per_file` bounds each file).
"""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--bucket")
    parser.add_argument("--format", default="parquet")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--local", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks-partitions.json")
    parser.add_argument("--report-only", action="store_true", help="re-render the report from --json")
    args = parser.parse_args()
    if args.report_only:
        write_report(json.loads(args.json.read_text()), ROOT / "docs" / "benchmarks-partitions.md", ROOT / "docs" / "img" / "partitions.png")
        return
    if args.child:
        print(json.dumps(_child(args.url, args.token, args.bucket, args.format, args.partitions, args.rows, args.local)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.workdir or Path(tmp), rows=args.rows, repeats=args.repeats)
    args.json.write_text(json.dumps(figures, indent=1))
    write_report(figures, ROOT / "docs" / "benchmarks-partitions.md", ROOT / "docs" / "img" / "partitions.png")
    print(f"wrote {ROOT / 'docs' / 'benchmarks-partitions.md'}")


if __name__ == "__main__":
    main()
