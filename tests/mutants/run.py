"""Apply each mutant to a scratch copy of the working tree, run its named tests, report caught/escaped.

A mutant is a module ``tests/mutants/m_<name>.py`` with::

    PROMISE = "what the code promises (the sentence a test should name)"
    FILE = "src/hf_bucket_sink/..."          # relative to the repository root
    SEARCH = "exact text"                     # must occur exactly once in FILE, else the mutant is STALE
    REPLACE = "the broken version"
    TESTS = ["tests/...::test_name", ...]     # pytest node ids expected to fail

Outcomes: ``caught`` (the named tests failed), ``escaped`` (they all passed: a hole in the suite),
``stale`` (SEARCH no longer matches once: re-point the mutant after a rewrite), ``error`` (pytest
could not run the tests, e.g. a node id that no longer exists), ``timeout``. The exit code is 1
if any mutant escaped, 2 if none escaped but some were stale/error/timeout, else 0.

Each run copies the tracked and untracked-but-not-ignored files (``git ls-files``) to a fresh
directory, so uncommitted edits are included. The package is installed editable from the
original checkout: the scratch run puts ``<scratch>/src`` first on ``PYTHONPATH`` and a pytest
plugin aborts the run unless ``hf_bucket_sink`` is imported from the scratch copy.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mutant", "Outcome", "load_mutants", "run_mutant", "main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

GUARD = '''
import os
import pytest


def pytest_sessionstart(session):
    import hf_bucket_sink

    root = os.environ["HF_BUCKET_SINK_MUTANT_ROOT"]
    where = os.path.realpath(hf_bucket_sink.__file__)
    if not where.startswith(os.path.realpath(root) + os.sep):
        raise pytest.UsageError(f"mutation run imported hf_bucket_sink from {where}, not from the scratch copy {root}")
    with open(os.environ["HF_BUCKET_SINK_MUTANT_MARKER"], "w") as f:
        f.write(where)
'''


@dataclass(frozen=True)
class Mutant:
    name: str
    promise: str
    file: str
    search: str
    replace: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    status: str  # caught | escaped | stale | error | timeout
    seconds: float
    detail: str = ""


def load_mutants(names: list[str] | None = None) -> list[Mutant]:
    found: list[Mutant] = []
    for path in sorted(HERE.glob("m_*.py")):
        name = path.stem[2:]
        if names and name not in names and path.stem not in names:
            continue
        spec = importlib.util.spec_from_file_location(f"_mutant_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(Mutant(name, module.PROMISE, module.FILE, module.SEARCH, module.REPLACE, tuple(module.TESTS)))
    if names:
        missing = set(names) - {m.name for m in found} - {f"m_{m.name}" for m in found}
        if missing:
            raise SystemExit(f"unknown mutant(s): {', '.join(sorted(missing))}")
    return found


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def _copy_tree(dest: Path) -> None:
    for rel in _tracked_files():
        src = ROOT / rel
        if src.is_file():  # deleted-but-tracked files are skipped
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def _pytest(scratch: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """Run ``tests`` in ``scratch``; returns (status-if-not-mutated: passed/failed/error/timeout, output tail)."""
    guard_dir = scratch / ".mutant-guard"
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / "mutant_guard.py").write_text(GUARD)
    marker = guard_dir / "imported-from"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(scratch / "src"), str(guard_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HF_BUCKET_SINK_MUTANT_ROOT"] = str(scratch)
    env["HF_BUCKET_SINK_MUTANT_MARKER"] = str(marker)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "mutant_guard", *tests]
    try:
        proc = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"no result within {timeout:g} s"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    if proc.returncode in (0, 1) and not marker.exists():
        raise SystemExit(f"the import guard did not run in {scratch}; refusing to trust this result:\n{tail}")
    return {0: "passed", 1: "failed"}.get(proc.returncode, "error"), tail


def run_mutant(mutant: Mutant, *, timeout: float, keep: bool = False) -> Outcome:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"mutant-{mutant.name}-"))
    try:
        _copy_tree(scratch)
        target = scratch / mutant.file
        text = target.read_text() if target.is_file() else ""
        count = text.count(mutant.search)
        if count != 1:
            return Outcome(mutant, "stale", time.monotonic() - started, f"search text found {count} times in {mutant.file}")
        target.write_text(text.replace(mutant.search, mutant.replace))
        result, tail = _pytest(scratch, mutant.tests, timeout)
        status = {"failed": "caught", "passed": "escaped"}.get(result, result)
        return Outcome(mutant, status, time.monotonic() - started, tail)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def baseline(mutants: list[Mutant], timeout: float) -> None:
    """The named tests must pass on the unmutated copy, or 'caught' would mean nothing."""
    tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
    scratch = Path(tempfile.mkdtemp(prefix="mutant-baseline-"))
    try:
        _copy_tree(scratch)
        result, tail = _pytest(scratch, tests, timeout * 4)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result != "passed":
        raise SystemExit(f"baseline: the named tests do not pass without any mutant ({result}):\n{tail}")
    print(f"baseline: {len(tests)} named test(s) pass unmutated", flush=True)


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("caught", "escaped", "stale", "error", "timeout")}
    lines = [
        "# Mutation report",
        "",
        "Generated by `python -m tests.mutants --report docs/mutation-report.md` (see CONTRIBUTING.md).",
        "Each mutant breaks one promise in the source; *caught* means its named tests failed.",
        "",
        "Summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" (of {len(outcomes)}).",
        "",
        "| mutant | promise | file | outcome | catching tests |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        tests = "<br>".join(f"`{t}`" for t in o.mutant.tests)
        lines.append(f"| `{o.mutant.name}` | {o.mutant.promise} | `{o.mutant.file}` | **{o.status}** | {tests} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all), e.g. tenancy_add_file")
    parser.add_argument("-j", "--jobs", type=int, default=1, choices=(1, 2), help="mutants at a time (max 2)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant's test run")
    parser.add_argument("--report", type=Path, help="write a Markdown report here")
    parser.add_argument("--no-baseline", action="store_true", help="skip running the named tests unmutated first")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies (for debugging)")
    args = parser.parse_args(argv)
    mutants = load_mutants(args.names or None)
    if args.list:
        for m in mutants:
            print(f"{m.name:40} {m.file}  -- {m.promise}")
        return 0
    if not args.no_baseline:
        baseline(mutants, args.timeout)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(lambda m: run_mutant(m, timeout=args.timeout, keep=args.keep), mutants):
            outcomes.append(outcome)
            print(f"{outcome.status:8} {outcome.mutant.name:40} {outcome.seconds:6.1f} s", flush=True)
            if outcome.status in ("escaped", "error", "timeout", "stale"):
                print("    " + outcome.detail.replace("\n", "\n    "), flush=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("caught", "escaped", "stale", "error", "timeout")}
    print("summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" (of {len(outcomes)})")
    if args.report:
        write_report(args.report, outcomes)
    if counts["escaped"]:
        return 1
    return 2 if counts["stale"] or counts["error"] or counts["timeout"] else 0


if __name__ == "__main__":
    sys.exit(main())
