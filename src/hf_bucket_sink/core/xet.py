"""hf_xet sessions (one per configuration, shared by every upload in the process) and the stall watchdog.

>>> session = xet_session("none")               # cached; rebuilt when HF_XET_* / HF_HOME / the pid change
>>> commit = session.new_upload_commit(endpoint=..., token=..., ...)
>>> watchdog = StallWatchdog(commit, upload_timeout(), describe=lambda: "x.parquet")
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from hf_bucket_sink.core.settings import DEFAULT_UPLOAD_TIMEOUT, UPLOAD_TIMEOUT_ENV, max_upload_concurrency
from hf_bucket_sink.errors import UploadError

__all__ = ["StallWatchdog", "xet_session", "forget_session"]

logger = logging.getLogger("hf_bucket_sink")


class StallWatchdog:
    """Aborts an hf_xet upload commit that has pending work but makes no progress for ``timeout`` seconds.

    Polls ``commit.progress()`` from one daemon thread (stopped by :meth:`stop`, which joins it).
    Work is pending when xorb bytes are queued but not yet sent, or while the session is finishing
    (files, shards). Progress is any change in bytes processed or bytes sent. Idle time while the
    query computes (nothing queued) is not a stall.
    """

    def __init__(self, commit: Any, timeout: float | None, describe: Callable[[], str]) -> None:
        self.error: UploadError | None = None
        self.finishing = False
        self._commit = commit
        self._timeout = timeout
        self._describe = describe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if timeout is not None:
            self._thread = threading.Thread(target=self._run, name="hf-bucket-sink-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        timeout = self._timeout
        assert timeout is not None
        poll = min(1.0, max(0.05, timeout / 20))
        marker: tuple[int, int] | None = None
        last = time.monotonic()
        while not self._stop.wait(poll):
            try:
                report = self._commit.progress()
                seen = (int(report.total_bytes_completed), int(report.total_transfer_bytes_completed))
                pending = self.finishing or int(report.total_transfer_bytes) > seen[1]
            except Exception as exc:  # a finished or aborted commit may refuse progress(): nothing left to watch
                logger.debug("upload progress unavailable: %s", exc)
                return
            now = time.monotonic()
            if seen != marker or not pending:
                marker, last = seen, now
                continue
            if now - last >= timeout:
                self.error = UploadError(
                    f"The upload of {self._describe()} made no progress for {timeout:g} s (the Xet storage server "
                    "is unreachable, hanging or failing every request), so it was aborted. Nothing was registered "
                    "and any previous version is intact. Check the network and run the sink again; raise "
                    f"{UPLOAD_TIMEOUT_ENV} (seconds, default {DEFAULT_UPLOAD_TIMEOUT:g}) for very slow links."
                )
                logger.warning("%s", self.error)
                try:
                    self._commit.abort()  # unblocks writes and wait_to_finish() in the other threads
                except Exception as exc:
                    logger.debug("aborting the stalled commit failed: %s", exc)
                return

    def stop(self) -> None:
        """Stop watching and join the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()



_sessions: dict[str, tuple[tuple[Any, ...], Any]] = {}
_sessions_lock = threading.Lock()


def _session_key() -> tuple[Any, ...]:
    # a fork or a new cache location (tests, notebooks changing HF_HOME) needs a new session
    return (os.getpid(), os.environ.get("HF_XET_CACHE"), os.environ.get("HF_HOME"), _xet_env())


def _xet_env() -> tuple[tuple[str, str], ...]:
    # hf_xet reads HF_XET_* (e.g. HF_XET_CLIENT_RETRY_BASE_DELAY) when a config is built: a change needs a new session
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("HF_XET_") and k != "HF_XET_CACHE"))


def xet_session(compression_policy: str = "auto") -> Any:
    """A process-wide ``hf_xet.XetSession`` per configuration (sessions are cheap to share, costly to build)."""
    import hf_xet

    concurrency = max_upload_concurrency()
    key = (*_session_key(), concurrency)
    with _sessions_lock:
        held = _sessions.get(compression_policy)
        if held is None or held[0] != key:
            settings: dict[str, Any] = {"xorb.compression_policy": compression_policy}
            if concurrency is not None:
                settings["client.ac_max_upload_concurrency"] = concurrency
                settings["client.ac_initial_upload_concurrency"] = min(2, concurrency)
            config = hf_xet.XetConfig().with_config(settings)
            held = _sessions[compression_policy] = (key, hf_xet.XetSession(config=config))
        return held[1]


def forget_session(compression_policy: str) -> None:
    """Drop a session after ``sigint_abort`` destroyed its runtime; the next call builds a new one."""
    with _sessions_lock:
        _sessions.pop(compression_policy, None)


