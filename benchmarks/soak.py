"""Soak run of the reliability suite: the long variants of tests/reliability, and the figures.

    .venv/bin/python benchmarks/soak.py [--scale 1] [--workdir DIR] [--fuzz-examples 5000]

Runs ``pytest tests/reliability`` with ``HF_BUCKET_SINK_SOAK=1`` (un-skips the ``@pytest.mark.slow``
variants: more sinks under CAS faults, more processes, more racing rounds, scaled by ``--scale``)
and ``HF_BUCKET_SINK_FUZZ_EXAMPLES`` (hub fuzzing), collects the figures the tests append to
``HF_BUCKET_SINK_FAULT_LOG`` (faults injected, files verified byte-for-byte, bytes lost, timings),
and prints them as JSON. ``run(workdir)`` returns the same dict; docs/reliability.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run(workdir: Path, *, scale: int = 1, fuzz_examples: int = 5000, soak: bool = True) -> dict[str, Any]:
    """Run the suite (soak variants included when ``soak``); return outcome and summed figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "faults.jsonl"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "HF_BUCKET_SINK_SOAK": "1" if soak else "0",
        "HF_BUCKET_SINK_SOAK_SCALE": str(scale),
        "HF_BUCKET_SINK_FUZZ_EXAMPLES": str(fuzz_examples),
        "HF_BUCKET_SINK_FAULT_LOG": str(log),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "reliability")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    seconds = time.monotonic() - started
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    figures: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    runs: dict[str, int] = defaultdict(int)
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            test = entry.pop("test")
            runs[test] += 1
            for key, value in entry.items():
                if isinstance(value, (int, float)):
                    agg = figures[test]
                    # sum counts, keep the worst (max) of timings and memory
                    if key.startswith(("seconds", "peak", "growth", "upload_seconds", "limit", "ttl")):
                        agg[key] = max(agg[key], value)
                    else:
                        agg[key] += value
    return {
        "passed": proc.returncode == 0,
        "summary": summary,
        "seconds": round(seconds, 1),
        "scale": scale,
        "fuzz_examples": fuzz_examples,
        "runs": dict(runs),
        "figures": {k: dict(v) for k, v in figures.items()},
        "output_tail": proc.stdout[-3000:] if proc.returncode else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--fuzz-examples", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--ci", action="store_true", help="only the CI variants (no soak), to get their figures")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    result = run(workdir, scale=args.scale, fuzz_examples=400 if args.ci else args.fuzz_examples, soak=not args.ci)
    print(json.dumps(result, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
