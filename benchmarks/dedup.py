"""Dedup benchmark: how many bytes a re-run uploads after typical edits, Polars' writer vs the CDC writer.

    .venv/bin/python benchmarks/dedup.py [--scale 1] [--workdir DIR] [--grid] [--no-docs]

For W1 at ``--scale`` and each writer it writes the *base* file and one *variant* per scenario
to local disk (timed: that is the write cost), then uploads base and variant to a fresh local
Hub (``hf-bucket-sink serve`` in its own process, empty data dir and Xet cache, so the variant
dedups against the base only) and reads the variant's ``SinkResult.new_bytes``. The server's
``raw_chunk_bytes_stored`` counter is read alongside as a cross-check.

Scenarios (``N`` = rows of W1, ``k`` = N/100):
identical re-sink; 1% append (k new rows at the end); 1% mid-table insert (k new rows at N/2);
1% delete (rows N/2 .. N/2+k removed); one column changed (``charge`` recomputed); one column
added (``margin`` at the end). New rows are real rows with a new order key and comment so they
cannot dedup against existing ones.

``run(workdir)`` returns the result dict; ``__main__`` also writes docs/benchmarks-dedup.md and
docs/img/dedup.png (``--no-docs`` to skip). ``--grid`` measures extra CDC settings (row-group
size, page size, CDC parameters, compression) - the numbers behind docs/dedup.md's defaults.
Timings come from a shared 2-core machine: compare writers within one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # sibling helper modules (_hub) when run as a script

from _hub import HubProcess  # noqa: E402

from hf_bucket_sink.polars.backpressure import bounded_streaming  # noqa: E402
from hf_bucket_sink.polars.cdc import write_cdc_parquet  # noqa: E402
from hf_bucket_sink.core.result import SinkResult  # noqa: E402
from hf_bucket_sink.cli.workloads import tpch_lineitem, w1_pipeline  # noqa: E402

Scenario = Callable[[pl.LazyFrame, int], pl.LazyFrame]


def _new_rows(lf: pl.LazyFrame, k: int) -> pl.LazyFrame:
    """k realistic rows that exist nowhere in the base: fresh order keys and comments."""
    return lf.slice(0, k).with_columns(
        l_orderkey=pl.col("l_orderkey") + 1_000_000_000,
        l_comment=pl.col("l_comment").str.reverse() + pl.lit(" (amended)"),
    )


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "identical": ("identical re-sink", lambda lf, n: lf),
    "append": ("1% append", lambda lf, n: pl.concat([lf, _new_rows(lf, n // 100)])),
    "insert": ("1% mid-table insert", lambda lf, n: pl.concat([lf.slice(0, n // 2), _new_rows(lf, n // 100), lf.slice(n // 2)])),
    "delete": ("1% delete", lambda lf, n: pl.concat([lf.slice(0, n // 2), lf.slice(n // 2 + n // 100)])),
    "column_changed": ("one column changed", lambda lf, n: lf.with_columns(charge=pl.col("charge") * 1.01)),
    "column_added": ("one column added", lambda lf, n: lf.with_columns(margin=pl.col("disc_price") - pl.col("charge") * 0.9)),
}

#: writer name -> options; "kind" selects Polars' sink_parquet or write_cdc_parquet
WRITERS: dict[str, dict[str, Any]] = {
    "polars": {"kind": "polars"},
    "cdc": {"kind": "cdc"},
}

#: extra settings measured with --grid (choosing the CDC defaults)
GRID: dict[str, dict[str, Any]] = {
    "pyarrow-nocdc": {"kind": "cdc", "cdc": False, "row_group_cuts": "fixed"},
    "cdc-fixed": {"kind": "cdc", "row_group_cuts": "fixed"},
    "cdc-small-fixed": {"kind": "cdc", "row_group_cuts": "fixed", "cdc": {"min_chunk_size": 64 * 1024, "max_chunk_size": 256 * 1024}},
    "cdc-small-rg256k": {"kind": "cdc", "row_group_size": 256 * 1024, "cdc": {"min_chunk_size": 64 * 1024, "max_chunk_size": 256 * 1024}},
    "cdc-rg128k": {"kind": "cdc", "row_group_size": 128 * 1024},
    "cdc-rg256k": {"kind": "cdc", "row_group_size": 256 * 1024},
    "cdc-rg4m": {"kind": "cdc", "row_group_size": 4 * 1024 * 1024},
    "cdc-page1m": {"kind": "cdc", "data_page_size": 1024 * 1024},
    "cdc-norm1": {"kind": "cdc", "cdc": {"norm_level": 1}},
    "cdc-small": {"kind": "cdc", "cdc": {"min_chunk_size": 64 * 1024, "max_chunk_size": 256 * 1024}},
    "cdc-snappy": {"kind": "cdc", "compression": "snappy"},
    "polars-rg1m": {"kind": "polars", "row_group_size": 1024 * 1024},
}


def write(lf: pl.LazyFrame, path: Path, options: Mapping[str, Any]) -> dict[str, float]:
    """Write ``lf`` to ``path`` with one writer; wall and CPU seconds of the write."""
    opts = {k: v for k, v in options.items() if k != "kind"}
    t0, c0 = time.perf_counter(), time.process_time()
    if options["kind"] == "polars":
        with bounded_streaming(lf.collect_schema()), open(path, "wb") as f:
            lf.sink_parquet(f, **opts)
    else:
        with open(path, "wb") as f:
            write_cdc_parquet(lf, f, **opts)
    return {"write_s": time.perf_counter() - t0, "write_cpu_s": time.process_time() - c0, "size": path.stat().st_size}


def upload(hub: HubProcess, bucket_id: str, name: str, local: Path) -> SinkResult:
    """Upload a local file through the same path as the sinks (UploadSession -> BucketWriter)."""
    from hf_bucket_sink.core.credentials import resolve_credentials
    from hf_bucket_sink.core.hub import HubClient
    from hf_bucket_sink.core.paths import BucketPath
    from hf_bucket_sink.core.upload import UploadSession

    target = BucketPath.parse(f"hf://buckets/{bucket_id}/{name}", kind="file")
    client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
    access = client.xet_token(bucket_id, write=True)
    with UploadSession(client, bucket_id, access) as session, open(local, "rb") as f:
        writer = session.open_writer(target)
        while block := f.read(8 << 20):
            writer.write(block)
        return session.commit()


def dedup_pair(root: Path, base: Path, variant: Path) -> dict[str, Any]:
    """Upload base then variant to a fresh hub; what the variant cost."""
    with HubProcess(root) as hub:
        # hf_xet's local shard cache would remember chunks from other hubs' runs: fresh per hub
        os.environ["HF_XET_CACHE"] = str(hub.xet_cache)
        bucket = hub.create_bucket("dedup")
        upload(hub, bucket, "base.parquet", base)
        before = hub.stats()
        result = upload(hub, bucket, "variant.parquet", variant)
        after = hub.stats()
    return {
        "size": result.size,
        "new_bytes": result.new_bytes,
        "new_pct": 100.0 * result.new_bytes / result.size if result.size else 0.0,
        "uploaded_bytes": result.uploaded_bytes,
        "server_raw_chunk_bytes": after["raw_chunk_bytes_stored"] - before["raw_chunk_bytes_stored"],
        "server_xorb_bytes": after["xorb_bytes_received"] - before["xorb_bytes_received"],
        "server_shard_bytes": after["shard_bytes_received"] - before["shard_bytes_received"],
    }


def run(workdir: Path, *, scale: float = 1.0, writers: Mapping[str, Mapping[str, Any]] | None = None,
        scenarios: list[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every writer x scenario; returns ``{"scale", "rows", "results": {writer: {scenario: {...}}}}``."""
    writers = dict(writers or WRITERS)
    names = scenarios or list(SCENARIOS)
    workdir.mkdir(parents=True, exist_ok=True)
    lf = w1_pipeline(tpch_lineitem(scale))
    n = int(lf.select(pl.len()).collect().item())
    out: dict[str, Any] = {"scale": scale, "rows": n, "results": {}}
    for wname, options in writers.items():
        base = workdir / f"{wname}-base.parquet"
        base_w = write(lf, base, options)
        log(f"{wname}: base {base_w['size'] / 1e6:.1f} MB in {base_w['write_s']:.1f} s")
        res: dict[str, Any] = {"base": base_w}
        for sname in names:
            variant = workdir / f"{wname}-{sname}.parquet"
            w = write(SCENARIOS[sname][1](lf, n), variant, options)
            d = dedup_pair(workdir / f"hub-{wname}-{sname}", base, variant)
            variant.unlink()
            res[sname] = {**w, **d}
            log(f"  {sname:15s} new {d['new_pct']:5.1f}% of {d['size'] / 1e6:.1f} MB, write {w['write_s']:.1f} s "
                f"(server raw chunks {d['server_raw_chunk_bytes'] / 1e6:.2f} MB)")
        base.unlink()
        out["results"][wname] = res
    return out


def report(data: Mapping[str, Any], docs: Path) -> None:
    """docs/benchmarks-dedup.md + docs/img/dedup.png from ``run()``'s dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = data["results"]
    writers = list(results)
    names = [s for s in SCENARIOS if all(s in results[w] for w in writers)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(writers)
    for i, w in enumerate(writers):
        xs = [j + (i - (len(writers) - 1) / 2) * width for j in range(len(names))]
        vals = [results[w][s]["new_pct"] for s in names]
        bars = ax1.bar(xs, vals, width, label=w)
        ax1.bar_label(bars, labels=[f"{v:.1f}" for v in vals], fontsize=7)
    ax1.set_xticks(range(len(names)), [SCENARIOS[s][0] for s in names], rotation=15, fontsize=8)
    ax1.set_ylabel("new bytes uploaded, % of file")
    ax1.set_title(f"W1 scale {data['scale']:g} ({data['rows']:,} rows): re-run after an edit")
    ax1.legend()
    times = [results[w]["base"]["write_s"] for w in writers]
    ax2.bar(writers, times, color=[f"C{i}" for i in range(len(writers))])
    ax2.set_ylabel("write time of the base file, s")
    ax2.set_title("write cost (local disk)")
    fig.tight_layout()
    (docs / "img").mkdir(parents=True, exist_ok=True)
    fig.savefig(docs / "img" / "dedup.png", dpi=110)
    plt.close(fig)

    lines = [
        "# Dedup benchmark: Polars' writer vs the CDC writer",
        "",
        f"W1 at scale {data['scale']:g} ({data['rows']:,} rows). Generated by `benchmarks/dedup.py` on "
        f"{data.get('when', '?')}; machine: {data.get('machine', '?')} (shared with other jobs: "
        "compare writers within this table, not with other runs).",
        "",
        "Each variant is uploaded to a fresh local Hub after the base file written by the same writer; "
        "*new* is `SinkResult.new_bytes` of the variant (bytes whose Xet chunks were not stored yet), "
        "as % of the variant's size. *write* is the time to write the variant to local disk.",
        "",
        "![new bytes per scenario](img/dedup.png)",
        "",
        "| scenario | " + " | ".join(f"{w}: new % | {w}: write s" for w in writers) + " |",
        "|---|" + "---:|---:|" * len(writers),
    ]
    for s in names:
        cells = " | ".join(f"{results[w][s]['new_pct']:.1f} | {results[w][s]['write_s']:.1f}" for w in writers)
        lines.append(f"| {SCENARIOS[s][0]} | {cells} |")
    lines += ["", "| writer | file size (base) | write s (base) | CPU s (base) |", "|---|---:|---:|---:|"]
    for w in writers:
        b = results[w]["base"]
        lines.append(f"| {w} | {b['size'] / 1e6:.1f} MB | {b['write_s']:.1f} | {b['write_cpu_s']:.1f} |")
    lines += [
        "",
        "Cross-check: for every variant the local Hub's `raw_chunk_bytes_stored` delta equals "
        "`SinkResult.new_bytes` "
        + ("(it did in this run)." if all(results[w][s]["server_raw_chunk_bytes"] == results[w][s]["new_bytes"]
                                        for w in writers for s in names) else "(**it did not in this run: see the JSON**)."),
        "",
        "Raw numbers: `docs/benchmarks-dedup.json`. Writers: `polars` = `LazyFrame.sink_parquet` defaults "
        "(what `sink_parquet` uses today); `cdc` = `hf_bucket_sink.polars.cdc.write_cdc_parquet` defaults "
        "(see [dedup.md](dedup.md)).",
        "",
    ]
    (docs / "benchmarks-dedup.md").write_text("\n".join(lines))
    (docs / "benchmarks-dedup.json").write_text(json.dumps(data, indent=1))


def main(argv: list[str] | None = None) -> int:
    import datetime as dt
    import platform

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--grid", action="store_true", help="also measure the candidate CDC settings")
    parser.add_argument("--only", nargs="*", default=None, help="writer names (from WRITERS/GRID)")
    parser.add_argument("--scenarios", nargs="*", default=None)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw result here")
    args = parser.parse_args(argv)
    writers = {**WRITERS, **(GRID if args.grid else {})}
    if args.only:
        writers = {k: v for k, v in {**WRITERS, **GRID}.items() if k in args.only}
    with tempfile.TemporaryDirectory(prefix="dedup-bench-", dir=args.workdir) as tmp:
        data = run(Path(tmp), scale=args.scale, writers=writers, scenarios=args.scenarios)
    data["when"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    data["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}"
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    if not args.no_docs:
        report(data, REPO / "docs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
