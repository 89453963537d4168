"""Peak client memory and time of partitioned sinks at 1, 100, 1,000 and 10,000 partitions.

    python benchmarks/partitions.py [--rows 5000000] [--repeats 3] [--points 1,100,1000,10000] [--machine-shared]
    # writes docs/benchmarks-partitions.md and docs/benchmarks-partitions.json (+ docs/img/partitions.png if matplotlib is installed)

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


def _targets(summary: list[dict[str, Any]]) -> str:
    """Issue 14's done-when, checked against the largest point of this run."""
    rows = [r for r in summary if r["format"] == "parquet"]
    if not rows:
        return "No Parquet point was measured."
    top = max(rows, key=lambda r: r["partitions"])
    caveat = "" if top["partitions"] >= 10_000 else f" (the targets are set for 10,000 partitions; this run went up to {top['partitions']:,})"
    mem_ok = top["rss_delta"] <= 150
    time_ok = top["time_ratio"] <= 1.5
    lines = [
        f"- Memory at {top['partitions']:,} partitions: **{top['rss_delta']:+.0f} MB** over Polars' local sink "
        f"(spread {top['rss_delta_spread'][0]:+.0f} to {top['rss_delta_spread'][1]:+.0f}); target +150 MB: "
        f"**{'met' if mem_ok else 'not met'}**.",
        f"- Time at {top['partitions']:,} partitions: **{top['time_ratio']:.2f}×** Polars' local sink "
        f"(spread {top['time_ratio_spread'][0]:.2f}-{top['time_ratio_spread'][1]:.2f}); target 1.5×: "
        f"**{'met' if time_ok else 'not met'}**{caveat}.",
    ]
    return "\n".join(lines)


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
    points = ",".join(str(p) for p in sorted({r["partitions"] for r in summary}))
    command = f"python benchmarks/partitions.py --rows {figures['rows']} --repeats {figures['repeats']} --points {points}"
    if figures.get("machine_shared"):
        command += " --machine-shared"
        machine = ("**Machine shared**: other jobs ran on the same cores while this ran, so absolute times are noisy; "
                   "the ratios compare runs made in the same round.")
    else:
        machine = "Run on a machine without other jobs."
    wall = f" The whole run took {figures['wall_seconds'] / 60:.0f} min." if "wall_seconds" in figures else ""
    load = f" Load average at the end: {figures['loadavg_end'][0]:.1f}." if "loadavg_end" in figures else ""
    doc.write_text(
        f"""# Partitioned sinks: memory and time against the number of partitions

Generated by `{command}` ({m['cpus']} CPUs, Python {m['python']}, Polars {m['polars']}).
{machine}{wall}{load}
Each timed run had a fresh local Hub (`hf-bucket-sink serve`, own process), a fresh Xet cache
(`HF_XET_CACHE`, `HF_HOME` in a new temp dir) and a fresh client process. Medians of
{figures['repeats']} runs, spread (min-max) in brackets; peak RSS is the client process's `ru_maxrss`.

Data: {figures['rows']:,} rows (`id`, `part`, `text`, `score`), sunk with
`PartitionBy(…, key="part")` where `part = id * 7919 % P`: each partition is spread over the whole
input. Baseline: the same query sunk by Polars alone into a local directory, in the same round.

| format | partitions | files | MB written | local peak RSS (MB) | bucket peak RSS (MB) | bucket − local (MB) | local s | bucket s | bucket / local time |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{table}

The bucket time includes the whole commit: every data file stored in Xet, registered (≤ 1,000 per
`/batch`), the manifest stored and registered (the commit point, [commit-protocol.md](commit-protocol.md)).

{"![peak RSS against partitions](img/partitions.png)" if plotted else ""}

## Against the targets of issue 14 (this run)

{_targets(summary)}

## Where the memory and the time go (measured)

These figures come from single investigation runs on a **shared** 2-core machine (load average
6-25), with the local Hub in its own process; they explain the table, they are not its source.

- **Polars' own buffers dominate the peak.** At 10,000 partitions (5 M rows) the client's RSS
  rises to about the local sink's peak while the query runs (one sampled pair: 765 MB bucket,
  730 MB local) and falls to ~210 MB once Polars returns, for the final Xet wait and the commit.
- **hf_xet keeps ~13 KB per file until its upload commit is waited for**, whether the file's
  stream is open or finished: 10,000 files of 9 KB in one commit, +126-133 MB (not given back
  after the wait). A partitioned sink therefore rolls over to a new hf_xet commit every
  `UploadTuning.files_per_commit` (1,000) files and waits for each full one on a finisher thread
  while the query goes on: the same 10,000 files in commits of 1,000 stay at +56 MB, of 500 at +20 MB.
  Every group is stored before anything is registered; the commit protocol is unchanged.
- **hf_xet's in-flight data is bounded but large** when the link is slower than the query: with a
  10 MB/s link, `write()` blocks once about 140-230 MB (one stream), 410 MB (two streams) or
  550 MB (eight streams) are held — xorbs of up to 64 MB being built and sent. This, not our
  buffers, is what a wide-row partitioned sink adds over Polars' own memory.
- **Our Python side is small**: tracemalloc peak 8-18 MB for a two-partition wide-row sink of
  184-551 MB. Each partition file's buffer is sent every 1 MiB.
- **Per-file time**: hf_xet's `finish()` of a stream waits for a global-dedup round trip
  (3,000 files of 9 KB: 1.43 s of finish() with the query on, 0.08 s with it off). Finishing
  on Polars' thread stalled the query once per file; released files are now finished on
  `UploadTuning.finisher_threads` (4) threads (3,000 finishes: 0.73 s on 4 threads, 1.70 s on 1),
  and the waits of full commits overlap the query instead of all coming at the end. Global dedup
  stays on (it is what makes a rerun send ~0 bytes from another machine).
- **Where the CPU goes at 10,000 partitions** (one pair on a quiet machine, 2026-12-04; CPU per
  thread from `/proc/<pid>/task/*/stat`, sampled every 50 ms): the local sink's client used
  10.96 CPU-s, the bucket sink's 18.26 CPU-s, and the local Hub 3.56 CPU-s more on the same two
  cores (22 CPU-s of work for 2 cores: the 11-12 s wall is CPU-bound). Of the client's +7.3 CPU-s,
  hf_xet's threads (`hf-xet-*` 2.5 s, and +2.7 s in `tokio-rt-worker`, a name Polars' I/O runtime
  shares) take ≈5.2 s, about 0.5 ms per file for 91 MB — a per-file cost, since 91 MB at hf_xet's
  ~600 MB/s per core is 0.15 s; Polars' executors +1.0 s (they call our writers' `write()`, so part
  of that is ours); the threads Linux names `python` (the main thread and our finishers) 0.57 s.
  The commit after the query (wait for the last group, ten `/batch` calls, the manifest) took
  0.7 s of the 11.4 s in a timed run. The 1.5× target needs hf_xet's per-file cost
  cut (upstream), or cores that the server does not share.

## What is kept per file

- Per open partition file: its writer, a buffer grown on demand up to 1 MiB
  (`UploadTuning.partition_block_bytes`) plus, for Parquet, a 64 KiB tail to read the footer's row
  count; no thread per file.
- Per finished file, until the commit: its record (path, content type, size, Xet hash, rows); the
  writer, its tail and its hf_xet stream are dropped when the file is finished.
- In hf_xet: ~13 KB per file of the current commit group (≤ 1,000 files), freed when the group is
  waited for.

## Limits

- CSV/NDJSON with key partitioning: Polars keeps a key's file open while its rows arrive and
  completes them all at the end of the query, so memory grows with the keys *open at once*
  (not measured in this run; `max_rows_per_file` bounds each file), and their commit groups can
  only be waited for at the end.
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
    parser.add_argument("--points", default=",".join(map(str, PARTITIONS)), help="partition counts, comma-separated")
    parser.add_argument("--machine-shared", action="store_true", help="say in the report that other jobs shared the machine")
    args = parser.parse_args()
    if args.report_only:
        write_report(json.loads(args.json.read_text()), ROOT / "docs" / "benchmarks-partitions.md", ROOT / "docs" / "img" / "partitions.png")
        return
    if args.child:
        print(json.dumps(_child(args.url, args.token, args.bucket, args.format, args.partitions, args.rows, args.local)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        points = tuple(int(v) for v in args.points.split(","))
        started = time.perf_counter()
        figures = run(args.workdir or Path(tmp), rows=args.rows, repeats=args.repeats, partitions=points)
        figures["machine_shared"] = args.machine_shared
        figures["wall_seconds"] = round(time.perf_counter() - started)
        figures["loadavg_end"] = os.getloadavg()
    args.json.write_text(json.dumps(figures, indent=1))
    write_report(figures, ROOT / "docs" / "benchmarks-partitions.md", ROOT / "docs" / "img" / "partitions.png")
    print(f"wrote {ROOT / 'docs' / 'benchmarks-partitions.md'}")


if __name__ == "__main__":
    main()
