"""Garbage collection of the local Hub: remove xorbs and shard records no bucket file references.

Deleting files or buckets only removes catalog rows; the content (xorbs on disk, file
reconstructions and shard rows in the catalog) stays until a collection. Three ways to run one:

- offline: ``hf-bucket-sink serve gc --data-dir DIR [--grace S]`` (:func:`collect_offline`; refuses
  a data dir a running hub holds);
- online: ``POST /_localhub/gc`` (admin route) or ``LocalHub.collect_garbage()``;
- scheduled: ``LocalHub(gc_interval=S)`` / ``hf-bucket-sink serve --gc-interval S``
  (:class:`GcScheduler`).

Uploads in progress are protected by a **grace period with leases** (default 24 h): a xorb stored,
or confirmed to a client as already stored (upload, grant request, HEAD, global-dedup hit), less
than ``grace`` seconds ago is kept even if nothing references it yet; so is a file reconstruction
whose shard was uploaded (or re-uploaded) less than ``grace`` ago but not yet registered by a
batch. Crash safety: catalog rows are removed in one SQLite transaction and xorb files only after
its commit, so a crash at any point loses nothing still referenced (leftover files are swept by
the next run). Keep ``grace`` above the longest upload session and the signed-URL lifetime.

Example::

    result = collect_offline(Path("hub-data"), grace=0)    # nothing is uploading: collect all garbage
    print(result.xorbs, result.xorb_bytes)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .cas import CasStore, GcResult
from .catalog import Catalog

try:  # POSIX: the same lock the running hub holds on its data directory
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_GRACE", "DataDirBusyError", "GcScheduler", "collect_offline", "result_json"]

logger = logging.getLogger(__name__)

#: Default grace period: longer than any upload session and any signed URL (1 h).
DEFAULT_GRACE = 24 * 3600.0


def result_json(result: GcResult) -> dict[str, Any]:
    return asdict(result)


class DataDirBusyError(RuntimeError):
    """The data directory is held by a running local Hub (collect through its admin route instead)."""


def collect_offline(
    data_dir: Path, *, grace: float = DEFAULT_GRACE, progress: Callable[[str], None] | None = None
) -> GcResult:
    """Collect garbage in a data directory no hub is serving (takes the hub's lock for the duration)."""
    data_dir = Path(data_dir)
    if not (data_dir / "catalog.sqlite3").exists():
        raise FileNotFoundError(f"{data_dir} is not a local Hub data directory (no catalog.sqlite3)")
    with open(data_dir / ".lock", "w") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DataDirBusyError(
                    f"{data_dir} is used by a running local Hub; run GC through it: POST /_localhub/gc"
                ) from None
        catalog = Catalog(data_dir / "catalog.sqlite3")
        try:
            return CasStore(data_dir, catalog).collect_garbage(grace, progress=progress)
        finally:
            catalog.close()


class GcScheduler:
    """Run ``collect()`` every ``interval`` seconds in a background thread until ``stop``."""

    def __init__(self, collect: Callable[[], GcResult], interval: float, stop: threading.Event) -> None:
        self._collect = collect
        self._interval = interval
        self._stop = stop
        self.runs = 0
        self.last: GcResult | None = None
        self._thread = threading.Thread(target=self._run, name="localhub-gc")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.last = self._collect()
            except (OSError, RuntimeError, sqlite3.Error) as exc:  # try again next interval
                logger.error("scheduled garbage collection failed: %s", exc)
                continue
            self.runs += 1
            logger.info("garbage collection: %s", result_json(self.last))
