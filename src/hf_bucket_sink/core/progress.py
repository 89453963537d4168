"""A one-line progress display on a terminal: bytes encoded, bytes sent, dedup.

Off when stderr is not a TTY or ``HF_HUB_DISABLE_PROGRESS_BARS`` is set (read at call time).
A caller that knows more (the CLI counts rows) adds it with :func:`progress_extra`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["progress_reporter", "progress_enabled", "progress_extra"]

# read when a display is created (on the caller's thread: hf_xet's callback thread has no context)
_EXTRA: ContextVar[Callable[[], str] | None] = ContextVar("hf_bucket_sink_progress_extra", default=None)

_TRUE = {"1", "true", "yes", "on"}


def progress_enabled() -> bool:
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() in _TRUE:
        return False
    return sys.stderr.isatty()


class _ProgressLine:
    """Receives hf_xet progress callbacks (from hf_xet's thread) and redraws one line, at most 4 times a second."""

    def __init__(self, label: str, extra: Callable[[], str] | None = None) -> None:
        self.label = label
        self._extra = extra
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._started = time.monotonic()
        self._drawn = False

    def __call__(self, group: Any, _items: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_draw < 0.25:
                return
            self._last_draw = now
            done = int(group.total_bytes_completed)
            sent = int(group.total_transfer_bytes_completed)
            rate = done / max(now - self._started, 1e-6)
            saved = max(done - sent, 0)
            line = (
                f"\r{self.label}: {done / 1e6:,.1f} MB written, {sent / 1e6:,.1f} MB sent "
                f"({saved / 1e6:,.1f} MB deduplicated/compressed), {rate / 1e6:,.1f} MB/s"
            )
            if self._extra is not None:
                line += f", {self._extra()}"
            sys.stderr.write(line[:200])
            sys.stderr.flush()
            self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                sys.stderr.write("\n")
                sys.stderr.flush()


@contextmanager
def progress_reporter(label: str) -> Iterator[Callable[[Any, Any], None] | None]:
    """Yield an hf_xet ``progress_callback`` (or ``None`` when the display is off)."""
    if not progress_enabled():
        yield None
        return
    line = _ProgressLine(label, _EXTRA.get())
    try:
        yield line
    finally:
        line.close()


@contextmanager
def progress_extra(describe: Callable[[], str]) -> Iterator[None]:
    """Append ``describe()`` (e.g. ``"12,345 rows"``) to every progress line drawn inside the block.

    ``describe`` is called from hf_xet's callback thread, so it must be cheap and thread-safe.
    """
    token = _EXTRA.set(describe)
    try:
        yield
    finally:
        _EXTRA.reset(token)
