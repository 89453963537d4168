"""Measuring one child process from the outside: wall clock, ``os.wait4`` rusage, RSS samples.

``ru_maxrss`` from ``wait4`` is the kernel's own high-water mark of the child's resident set, so
short spikes between samples are not missed; the psutil samples only draw the RSS-over-time plot.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
VARIANT_SCRIPT = HERE / "_variant.py"
SAMPLE_INTERVAL_S = 0.1


@dataclass
class Run:
    """One child process: what the parent measured plus what the child reported."""

    wall_s: float  # process wall clock, spawn to exit (includes interpreter start-up and imports)
    cpu_s: float  # ru_utime + ru_stime of the child (all its threads)
    maxrss_bytes: int  # ru_maxrss of the child
    child: dict[str, Any]  # the child's JSON (sink-scoped wall_s / cpu_s, SinkResult figures)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since spawn, RSS bytes)
    server_cpu_s: float | None = None  # CPU the local Hub process spent during this run

    @property
    def op_wall_s(self) -> float:
        return float(self.child["wall_s"])

    @property
    def op_cpu_s(self) -> float:
        return float(self.child["cpu_s"])


@dataclass
class Variant:
    """Repetitions of one variant; figures are medians over the repetitions."""

    name: str
    label: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        values = [float(getattr(r, attr)) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else float("nan")

    def child_median(self, key: str) -> float:
        values = [float(r.child[key]) for r in self.runs if r.child.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    def spread(self, attr: str) -> tuple[float, float]:
        values = [float(getattr(r, attr)) for r in self.runs]
        return (min(values), max(values)) if values else (float("nan"), float("nan"))


class ChildFailed(RuntimeError):
    """A variant process exited non-zero; the message carries the tail of its stderr."""


def _sampler(pid: int, start: float, out: list[tuple[float, int]], stop: threading.Event) -> None:
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            out.append((time.perf_counter() - start, proc.memory_info().rss))
            stop.wait(SAMPLE_INTERVAL_S)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return  # the child exited between two samples


def run_variant(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
    server_pid: int | None = None,
) -> Run:
    """Run ``_variant.py ARGS --out TMP`` in a fresh interpreter and measure it."""
    with tempfile.TemporaryDirectory(prefix="hfbs-bench-out-") as tmp:
        out_path = Path(tmp) / "result.json"
        argv = [sys.executable, str(VARIANT_SCRIPT), *args, "--out", str(out_path)]
        child_env = dict(os.environ if env is None else env)
        child_env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        server = psutil.Process(server_pid) if server_pid else None
        server_cpu0 = sum(server.cpu_times()[:2]) if server else None

        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sampler, args=(proc.pid, start, samples, stop), daemon=True)
        sampler.start()
        # stderr is drained by a thread: a chatty child must never block on a full pipe
        err_chunks: list[bytes] = []
        assert proc.stderr is not None
        stderr_pipe = proc.stderr
        drain = threading.Thread(target=lambda: err_chunks.append(stderr_pipe.read()), daemon=True)
        drain.start()
        killer = threading.Timer(timeout_s, proc.kill)
        killer.start()
        try:
            # wait4 rather than Popen.wait: it hands back the child's own rusage
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            stop.set()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
        drain.join(timeout=5)
        sampler.join(timeout=5)
        server_cpu = (sum(server.cpu_times()[:2]) - server_cpu0) if server and server_cpu0 is not None else None

        if proc.returncode != 0 or not out_path.exists():
            tail = b"".join(err_chunks).decode(errors="replace")[-3000:]
            raise ChildFailed(f"variant {' '.join(args)} exited with {proc.returncode}:\n{tail}")
        child = json.loads(out_path.read_text())
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_bytes=usage.ru_maxrss * 1024,  # KiB on Linux
        child=child,
        samples=samples,
        server_cpu_s=server_cpu,
    )
