"""Helpers shared by the reliability tests (a plain module: the test dirs are not packages)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

SOAK = os.environ.get("HF_BUCKET_SINK_SOAK") == "1"
SCALE = max(1, int(os.environ.get("HF_BUCKET_SINK_SOAK_SCALE", "1")))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def client_threads() -> list[str]:
    """Threads of the sink (uploader, watchdog) still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith("hf-bucket-sink")]


def record(test: str, **figures: Any) -> None:
    """Append figures (faults injected, files checked…) to ``$HF_BUCKET_SINK_FAULT_LOG`` (JSON lines), if set.

    ``benchmarks/soak.py`` sets it and sums the lines into the figures of docs/reliability.md.
    """
    import json

    target = os.environ.get("HF_BUCKET_SINK_FAULT_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": test, **figures}) + "\n")
