"""The benchmark command: run the standard workloads, compare with same-run baselines, write the report.

    .venv/bin/python benchmarks/run.py [--quick] [--only NAME ...] [--repeat N] [--big-scale S]

Issue 20's report (W1 at scales 1, 4 and 20, bucket vs Polars' local sink, 3 fresh-Hub pairs each,
plus the loop of 100 small sinks with and without prepared commits)::

    .venv/bin/python benchmarks/run.py --only sizes --big-repeat 3 --max-minutes 15

(≈13 min estimated on a quiet 2-core box, most of it the three scale-20 pairs; ``--max-minutes``
skips a pair that would end after the budget and the report names it.)

Writes ``docs/benchmarks.md`` (regenerated from scratch) and plots under ``docs/img/``.
Every variant runs in a fresh Python process, measured from here: wall clock, ``os.wait4``
rusage (peak RSS, user+sys CPU) and RSS samples; the child also reports the wall and CPU of the
sink call alone, which is what the ratios use.  The local Hub runs as its own process
(``hf-bucket-sink serve``), a fresh one with an empty data dir whenever a variant must upload
everything, so deduplication against an earlier repetition never flatters a figure.

Names for ``--only`` (groups or single variants): w1 (w1-local, w1-bucket, w1-workaround),
scale (w1xN-local, w1xN-bucket: scale ``--big-scale``), throttle (all at 20 MB/s:
w1-bucket-throttled, w1-local-throttled and, not with --quick, w1xN-bucket-throttled,
w1xN-local-throttled, w1xN-bucket-throttled-cc2), w2 (w2-local, w2-bucket), w3 (dedup sequence),
tuning (w1-bucket-auto, w1-bucket-cc2), throughput (benchmarks/localhub_throughput.py, when
present), sweep (W1 at every ``--scales`` value, ``--big-repeat`` pairs each), loop (100 small sinks
in one process, with and without prepared commits, ``--repeat`` times), sizes (w1-local, w1-bucket,
sweep, loop).  ``--quick`` drops every w1xN variant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # the sibling helper modules, when run as a script

from _hub import HubProcess  # noqa: E402
from _measure import ChildFailed, Run, Variant, run_variant  # noqa: E402

THROTTLE_BPS = 20_000_000  # "a slow link": 20 MB/s, the figure
# hf_xet reads its config from HF_XET_<GROUP>_<KEY> env vars, and the library only overrides the
# compression policy, so this reaches the production code path unchanged.
# the library caps hf_xet's concurrent xorb uploads (2 by default); the "-cc" variants lift the cap to
# hf_xet's own adaptive maximum to show what the cap buys on a slow link and costs on a fast one
CAPPED_CONCURRENCY = 64
CAPPED_ENV = {"HF_BUCKET_SINK_MAX_UPLOAD_CONCURRENCY": str(CAPPED_CONCURRENCY)}


class Bench:
    """State of one benchmark run: options, results, failures, scratch space."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.repeat: int = args.repeat
        self.big_scale: float = args.big_scale
        self.capped_concurrency = CAPPED_CONCURRENCY
        self.variants: dict[str, Variant] = {}
        self.failures: dict[str, str] = {}
        self.extra: dict[str, Any] = {}  # w3 sequence, throughput, hub info
        self.tmp = Path(tempfile.mkdtemp(prefix="hfbs-bench-"))
        self.log_lines: list[str] = []
        self.started = time.perf_counter()

    # -- plumbing ----------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        self.log_lines.append(line)
        print(line, flush=True)

    def scratch(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))
        return path

    def record(self, name: str, label: str, run: Run) -> None:
        self.variants.setdefault(name, Variant(name, label)).runs.append(run)
        c = run.child
        self.log(
            f"  {name}: sink {c['wall_s']:.1f} s wall, {c['cpu_s']:.1f} s CPU; process {run.wall_s:.1f} s, "
            f"peak RSS {run.maxrss_bytes / 1e6:.0f} MB" + (f", server CPU {run.server_cpu_s:.1f} s" if run.server_cpu_s is not None else "")
        )

    def guarded(self, name: str, fn: Callable[[], None]) -> None:
        """Run one step; a failure is recorded for the report and the run goes on."""
        try:
            fn()
        except (ChildFailed, RuntimeError, OSError, ValueError, KeyError) as exc:
            self.failures[name] = f"{type(exc).__name__}: {exc}"
            self.log(f"  {name} FAILED: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            if self.args.verbose:
                traceback.print_exc()

    # -- single variants ------------------------------------------------------------------------
    def local(self, name: str, label: str, workload: str, scale: float, *, throttle_bps: int | None = None,
              fileobj: bool = False) -> None:
        work = self.scratch(name)
        kind = "local-throttled" if throttle_bps else ("local-fileobj" if fileobj else "local")
        argv = [kind, "--workload", workload, "--scale", f"{scale:g}", "--workdir", str(work)]
        if throttle_bps:
            argv += ["--throttle-bps", str(throttle_bps)]
        try:
            self.record(name, label, run_variant(argv))
        finally:
            _rmtree(work)

    def bucket(
        self,
        name: str,
        label: str,
        workload: str,
        scale: float,
        *,
        kind: str = "bucket",
        bandwidth_limit: int | None = None,
        compression_policy: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """One upload into a fresh hub (fresh data dir, fresh client Xet cache): nothing to dedup against."""
        work = self.scratch(name)
        with HubProcess(work / "hub", bandwidth_limit=bandwidth_limit) as hub:
            bucket_id = hub.create_bucket("bench")
            argv = [kind, "--workload", workload, "--scale", f"{scale:g}", "--workdir", str(work / "client"),
                    "--endpoint", hub.url, "--token", hub.token, "--bucket", bucket_id,
                    "--path-in-bucket", f"{workload}.parquet"]
            if compression_policy:
                argv += ["--compression-policy", compression_policy]
            # a fresh HF_HOME too (hf_xet's logs and anything huggingface_hub caches live there)
            env = {**hub.client_env(), "HF_HOME": str(work / "hf-home"), **(extra_env or {})}
            run = run_variant(argv, env=env, server_pid=hub.pid)
            self.record(name, label, run)
        _rmtree(work)

    def loop(self, selected: set[str]) -> None:
        """100 small sinks in one process per run, with prepared commits (the default) and without,
        interleaved, ``--repeat`` times, each run into a fresh Hub with a fresh Xet cache."""
        for rep in range(self.repeat):
            self.log(f"loop round {rep + 1}/{self.repeat}")
            n = self.args.loop
            for name, env, label in (("loop", {}, f"{n} small sinks (default)"),
                                     ("loop-unprepared", {"HF_BUCKET_SINK_PREPARE_COMMITS": "0"},
                                      f"{n} small sinks, HF_BUCKET_SINK_PREPARE_COMMITS=0")):
                if name not in self.failures:
                    self.guarded(name, lambda: self._loop_run(name, label, env))

    def _loop_run(self, name: str, label: str, env: dict[str, str]) -> None:
        work = self.scratch(name)
        try:
            with HubProcess(work / "hub") as hub:
                bucket_id = hub.create_bucket("loop")
                argv = ["loop", "--workdir", str(work / "client"), "--endpoint", hub.url, "--token", hub.token,
                        "--bucket", bucket_id, "--loop", str(self.args.loop)]
                run = run_variant(argv, env={**hub.client_env(), "HF_HOME": str(work / "hf-home"), **env}, server_pid=hub.pid)
            self.variants.setdefault(name, Variant(name, label)).runs.append(run)
            b, l = run.child["bucket"], run.child["local"]
            self.log(f"  {name}: bucket {b['wall_ms_median']:.1f} ms wall (median), {b['cpu_ms']:.1f} ms CPU per sink; "
                     f"local {l['wall_ms_median']:.2f} ms, {l['cpu_ms']:.2f} ms CPU")
        finally:
            _rmtree(work)

    # -- groups -----------------------------------------------------------------------------------
    def fast_round(self, selected: set[str]) -> None:
        """The repeated sf1/W2 variants, interleaved so that drift on a shared machine hits all alike."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("w1-local", lambda: self.local("w1-local", "local (W1)", "w1", 1)),
            ("w1-bucket", lambda: self.bucket("w1-bucket", "bucket (W1)", "w1", 1)),
            ("w1-local-fileobj", lambda: self.local("w1-local-fileobj", "local through a Python file object (W1)", "w1", 1,
                                                    fileobj=True)),
            ("w1-workaround", lambda: self.bucket("w1-workaround", "workaround (W1)", "w1", 1, kind="workaround")),
            ("w1-bucket-auto", lambda: self.bucket(
                "w1-bucket-auto", "bucket, compression auto (W1)", "w1", 1, compression_policy="auto")),
            ("w1-bucket-cc2", lambda: self.bucket(
                "w1-bucket-cc2", f"bucket, upload concurrency ≤ {CAPPED_CONCURRENCY}, uncapped (W1)", "w1", 1, extra_env=CAPPED_ENV)),
            ("w2-local", lambda: self.local("w2-local", "local (W2)", "w2", 1)),
            ("w2-bucket", lambda: self.bucket("w2-bucket", "bucket (W2)", "w2", 1)),
        ]
        for rep in range(self.repeat):
            self.log(f"round {rep + 1}/{self.repeat}")
            for name, fn in steps:
                if name in selected and name not in self.failures:
                    self.guarded(name, fn)

    def once(self, selected: set[str]) -> None:
        """Long variants: the bigger scale (``--big-repeat`` times, interleaved) and the slow link (once)."""
        big = self.big_scale
        tag = f"w1x{big:g}"
        for _ in range(self.args.big_repeat):
            # Polars' own peak at this scale varies by ~25% between runs, so the growth check needs more than one
            if f"{tag}-local" in selected and f"{tag}-local" not in self.failures:
                self.guarded(f"{tag}-local", lambda: self.local(f"{tag}-local", f"local (W1x{big:g})", "w1", big))
            if f"{tag}-bucket" in selected and f"{tag}-bucket" not in self.failures:
                self.guarded(f"{tag}-bucket", lambda: self.bucket(f"{tag}-bucket", f"bucket (W1x{big:g})", "w1", big))
        if "w1-bucket-throttled" in selected:
            self.guarded("w1-bucket-throttled", lambda: self.bucket(
                "w1-bucket-throttled", "bucket at 20 MB/s (W1)", "w1", 1, bandwidth_limit=THROTTLE_BPS))
        if "w1-local-throttled" in selected:
            self.guarded("w1-local-throttled", lambda: self.local(
                "w1-local-throttled", "local file object at 20 MB/s (W1)", "w1", 1, throttle_bps=THROTTLE_BPS))
        # The same slow link on the bigger output: at scale 1 the ~230 MB file barely outgrows what hf_xet
        # holds in flight (~150-250 MB) before its write() blocks, so Polars is hardly ever held back; only a
        # longer stream shows whether the bound holds once backpressure really reaches Polars.
        if f"{tag}-bucket-throttled" in selected:
            self.guarded(f"{tag}-bucket-throttled", lambda: self.bucket(
                f"{tag}-bucket-throttled", f"bucket at 20 MB/s (W1x{big:g})", "w1", big, bandwidth_limit=THROTTLE_BPS))
        # hf_xet's adaptive upload concurrency (up to 64 uploads of 64 MB xorbs) is what holds the bytes on a
        # slow link; the same run with it capped shows whether a tuning knob restores the bound.
        if f"{tag}-bucket-throttled-cc2" in selected:
            self.guarded(f"{tag}-bucket-throttled-cc2", lambda: self.bucket(
                f"{tag}-bucket-throttled-cc2", f"bucket at 20 MB/s, upload concurrency ≤ {CAPPED_CONCURRENCY}, uncapped (W1x{big:g})",
                "w1", big, bandwidth_limit=THROTTLE_BPS, extra_env=CAPPED_ENV))
        if f"{tag}-local-throttled" in selected:
            self.guarded(f"{tag}-local-throttled", lambda: self.local(
                f"{tag}-local-throttled", f"local file object at 20 MB/s (W1x{big:g})", "w1", big, throttle_bps=THROTTLE_BPS))

    def sweep(self, selected: set[str]) -> None:
        """Issue 20's size sweep: W1 at each ``--scales`` value above 1 (scale 1 is the w1 group),
        local and bucket interleaved, ``--big-repeat`` times, a fresh Hub and Xet cache per bucket run."""
        last_pair: dict[float, float] = {}  # seconds the previous pair of each scale took
        for rep in range(self.args.big_repeat):
            for scale in self.args.scales:
                tag = f"w1x{scale:g}"
                if scale == 1 or (scale == self.big_scale and f"{tag}-local" in selected):
                    continue  # measured by the w1 group / by once()
                # expected time: this scale's previous pair, else a smaller scale's scaled up (time ~ rows)
                expected = last_pair.get(scale) or max((t * scale / s for s, t in last_pair.items()), default=0.0)
                if self.out_of_time(expected):
                    skipped = self.extra.setdefault("budget_skipped", [])
                    skipped.append(f"W1x{scale:g} round {rep + 1}")
                    self.log(f"sweep W1x{scale:g} round {rep + 1}: skipped, it would not end within --max-minutes")
                    continue
                started = time.perf_counter()
                self.log(f"sweep W1x{scale:g} round {rep + 1}/{self.args.big_repeat}")
                for kind in ("local", "bucket"):
                    name = f"{tag}-{kind}"
                    if name in self.failures:
                        continue
                    if kind == "local":
                        self.guarded(name, lambda: self.local(name, f"local (W1x{scale:g})", "w1", scale))
                    else:
                        self.guarded(name, lambda: self.bucket(name, f"bucket (W1x{scale:g})", "w1", scale))
                last_pair[scale] = time.perf_counter() - started

    def out_of_time(self, next_run_s: float) -> bool:
        """Whether a run expected to take ``next_run_s`` would end after ``--max-minutes`` (never without it)."""
        if self.args.max_minutes is None:
            return False
        return time.perf_counter() + next_run_s > self.started + 60 * self.args.max_minutes

    def w3(self) -> None:
        """Dedup: W1 twice, then W1 + 1% rows, into one hub, with the server's counters around each."""
        work = self.scratch("w3")
        steps = [("first", "w1", "w1.parquet"), ("again", "w1", "w1.parquet"), ("plus1pct", "w1plus", "w1.parquet")]
        out: list[dict[str, Any]] = []
        with HubProcess(work / "hub") as hub:
            bucket_id = hub.create_bucket("dedup")
            for step, workload, path in steps:
                before = _safe_stats(hub)
                argv = ["bucket", "--workload", workload, "--scale", "1", "--workdir", str(work / "client"),
                        "--endpoint", hub.url, "--token", hub.token, "--bucket", bucket_id, "--path-in-bucket", path]
                run = run_variant(argv, env=hub.client_env(), server_pid=hub.pid)
                after = _safe_stats(hub)
                self.record(f"w3-{step}", f"W3 {step}", run)
                out.append({"step": step, "child": run.child, "wall_s": run.wall_s, "maxrss_bytes": run.maxrss_bytes,
                            "server_before": before, "server_after": after, "server_delta": _delta(before, after)})
                self.extra["w3"] = out
        _rmtree(work)

    def throughput(self) -> None:
        path = HERE / "localhub_throughput.py"
        if not path.exists():
            self.extra["throughput"] = None
            self.log("  benchmarks/localhub_throughput.py not present: skipped")
            return
        spec = importlib.util.spec_from_file_location("localhub_throughput", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        work = self.scratch("throughput")
        try:
            self.extra["throughput"] = dict(module.run(work))
        finally:
            _rmtree(work)
        self.log(f"  throughput: {self.extra['throughput']}")


def _safe_stats(hub: HubProcess) -> dict[str, Any] | None:
    try:
        return hub.stats()
    except (OSError, ValueError) as exc:  # the admin route is optional for the figures that matter
        return {"error": f"{type(exc).__name__}: {exc}"}


def _delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, float]:
    """Differences of the numeric counters (nested dicts flattened with dots)."""
    a, b = _flatten(after or {}), _flatten(before or {})
    return {k: a[k] - b.get(k, 0) for k in a if isinstance(a[k], (int, float)) and not isinstance(a[k], bool)}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def machine_info() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    import importlib.metadata as md

    import psutil

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": psutil.virtual_memory().total / 1e9,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": version("polars"),
        "hf_xet": version("hf_xet"),
        "huggingface_hub": version("huggingface_hub"),
        "hf_bucket_sink": version("hf-bucket-sink"),
        "commit": commit,
        "loadavg_start": os.getloadavg(),
    }


#: companion benchmarks, each a script that writes its own report under docs/ (linked from the main one):
#: name -> (script and arguments, report, what it measures)
COMPANIONS: dict[str, tuple[list[str], str, str]] = {
    "dedup": (["benchmarks/dedup.py"], "benchmarks-dedup.md", "W1 re-sinks after edits: Polars writer vs CDC writer (issue 8)"),
    "partitions": (["benchmarks/partitions.py"], "benchmarks-partitions.md", "peak RSS at 1-1,000 partitions (issue 5)"),
    "ray": (["benchmarks/ray_datasink.py"], "benchmarks-ray.md", "Ray Data datasink with 1 and 2 workers (issue 9; needs the [ray] extra)"),
    "soak": (["benchmarks/soak.py"], "reliability.md", "the reliability suite with its long soak variants; prints the figures reliability.md quotes (issue 7)"),
}


def run_companions(selected: set[str], log: Any) -> list[str]:
    """Run the selected companion scripts in fresh processes; returns the names that failed."""
    failed = []
    for name, (command, _report_name, _what) in COMPANIONS.items():
        if name not in selected:
            continue
        if name == "ray" and importlib.util.find_spec("ray") is None:
            log("  ray: skipped (ray is not installed: pip install 'hf-bucket-sink[ray]')")
            continue
        log(f"companion benchmark {name}: {' '.join(command)}")
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, *command], cwd=REPO, check=False)
        log(f"  {name}: exit {done.returncode} in {time.perf_counter() - t0:.0f} s")
        if done.returncode != 0:
            failed.append(name)
    return failed


def companion_section() -> str:
    lines = ["", "## Companion reports", "", "Run by the same command (`--only dedup partitions ray soak` for just these); each regenerates its own page:", ""]
    for name, (command, report_name, what) in COMPANIONS.items():
        lines.append(f"- [{report_name}]({report_name}) — {what} (`{' '.join(command)}`)")
    lines.append("- [benchmarks-read.md](benchmarks-read.md) — bytes fetched by Parquet projection and row-group pushdown (asserted in tests/integration/test_scan.py)")
    return "\n".join(lines) + "\n"


def expand(only: list[str] | None, big_scale: float, quick: bool) -> list[str]:
    """Variant names selected by ``--only`` (groups expanded); ``--quick`` drops the bigger scale."""
    tag = f"w1x{big_scale:g}"
    groups = {
        "w1": ["w1-local", "w1-bucket", "w1-workaround"],
        "scale": [f"{tag}-local", f"{tag}-bucket"],
        "throttle": ["w1-bucket-throttled", "w1-local-throttled", f"{tag}-bucket-throttled", f"{tag}-local-throttled",
                     f"{tag}-bucket-throttled-cc2"],
        "w2": ["w2-local", "w2-bucket"],
        "w3": ["w3"],
        "tuning": ["w1-bucket-auto", "w1-bucket-cc2"],
        "throughput": ["throughput"],
        "sweep": ["sweep"],  # W1 at every --scales value (issue 20)
        "loop": ["loop"],  # 100 small sinks in one process (issue 20)
        "sizes": ["w1-local", "w1-bucket", "w1-local-fileobj", "sweep", "loop"],  # issue 20's report
        # companion benchmarks: their own script and report (see COMPANIONS)
        **{name: [name] for name in COMPANIONS},
    }
    every = [v for vs in groups.values() for v in vs]
    if not only:
        chosen = every
    else:
        chosen = []
        for name in only:
            if name in groups:
                chosen += groups[name]
            elif name in every or name.startswith("w1x"):
                chosen.append(name)
            else:
                raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join([*groups, *every])}")
    if quick:
        chosen = [c for c in chosen if not c.startswith("w1x") and (only or c not in COMPANIONS)]
    return list(dict.fromkeys(chosen))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repetition, no bigger scale (a few minutes)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks/groups")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions of the fast variants (default 3; 1 with --quick)")
    parser.add_argument("--big-repeat", type=int, default=2, help="repetitions of the unthrottled bigger-scale variants (default 2)")
    parser.add_argument("--big-scale", type=float, default=5, help="TPC-H scale of the memory-growth run (default 5 = W1x5)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 4, 20],
                        help="TPC-H scales of the size sweep (group 'sweep'; default 1 4 20; 1 is the w1 group)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="time budget: sweep pairs that would end later are skipped, and the report says which")
    parser.add_argument("--loop", type=int, default=100, help="small sinks per run of the loop group (default 100)")
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--machine-shared", action="store_true",
                        help="say in the report that other jobs shared the machine (the load average cannot tell: "
                        "a benchmark that fills the cores raises it by itself)")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of failed variants")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3

    import _report  # after argument parsing: matplotlib is slow to import

    from hf_bucket_sink.cli.workloads import cache_dir, flights_csv, tpch_lineitem

    selected = set(expand(args.only, args.big_scale, args.quick))
    bench = Bench(args)
    bench.extra["selected"] = sorted(selected)
    started = time.perf_counter()
    info = machine_info()
    bench.log(f"benchmarks: {', '.join(sorted(selected))}; {args.repeat} repetition(s); scratch {bench.tmp}")
    try:
        # inputs first, so no variant's timing includes data generation
        bench.log("preparing inputs (cached under %s)" % cache_dir())
        tpch_lineitem(1)
        if "sweep" in selected:
            for scale in args.scales:
                t0 = time.perf_counter()
                tpch_lineitem(scale)
                bench.log(f"  lineitem sf{scale:g} ready in {time.perf_counter() - t0:.0f} s")
        if any(s.startswith("w1x") for s in selected):
            t0 = time.perf_counter()
            tpch_lineitem(args.big_scale)
            bench.log(f"  lineitem sf{args.big_scale:g} ready in {time.perf_counter() - t0:.0f} s")
        if selected & {"w2-local", "w2-bucket"}:
            flights_csv()

        bench.fast_round(selected)
        bench.once(selected)
        if "loop" in selected:  # short: before the sweep, whose last pairs --max-minutes may drop
            bench.loop(selected)
        if "sweep" in selected:
            bench.sweep(selected)
        if "w3" in selected:
            bench.log("W3 dedup sequence")
            bench.guarded("w3", bench.w3)
        if "throughput" in selected:
            bench.log("local Hub throughput")
            bench.guarded("throughput", bench.throughput)
        companion_failures = run_companions(selected, bench.log)
    finally:
        _rmtree(bench.tmp)
    info["loadavg_end"] = os.getloadavg()
    info["machine_shared"] = args.machine_shared
    info["duration_s"] = time.perf_counter() - started
    info["argv"] = " ".join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])

    report_path: Path = args.report
    _report.write_report(report_path, bench, info)
    with open(report_path, "a", encoding="utf-8") as report:
        report.write(companion_section())
    raw = cache_dir() / "bench" / "last-run.json"  # raw figures for debugging; never committed
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(_report.raw(bench, info), indent=1, default=str))
    bench.log(f"wrote {report_path} and plots in {report_path.parent / 'img'}; raw figures in {raw}")
    bench.log(f"done in {info['duration_s'] / 60:.1f} min")
    return 1 if bench.failures or companion_failures else 0


if __name__ == "__main__":
    sys.exit(main())
