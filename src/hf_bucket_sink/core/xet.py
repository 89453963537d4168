"""hf_xet sessions (one per configuration, shared by every upload in the process), upload commits
prepared ahead for loops of sinks, and the stall watchdog.

>>> session = xet_session("none")               # cached; rebuilt when HF_XET_* / HF_HOME / the pid change
>>> commit, settle = upload_commit("none", endpoint=..., token=..., token_expiry_unix_secs=..., ...)
>>> watchdog = StallWatchdog(commit, upload_timeout(), describe=lambda: "x.parquet")
>>> settle(False)                               # after the upload: the next commit is ready (or discarded)

Building an hf_xet upload commit costs 17-25 ms of CPU (hf_xet builds its HTTP clients and loads the
system's root certificates per commit; docs/performance.md), about half of a small sink. A commit
makes nothing visible (registration does, core/commit.py), so when a process runs a second upload
with the same configuration — a loop of sinks — :func:`upload_commit` builds the *next* commit on a
helper thread while the current upload runs, and the next upload takes it instead of building one.
The helper is joined before the upload returns (``settle``), so no thread of ours outlives a sink,
and a failed upload discards the prepared commit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hf_bucket_sink.core.settings import DEFAULT_UPLOAD_TIMEOUT, UPLOAD_TIMEOUT_ENV, max_upload_concurrency, prepare_commits
from hf_bucket_sink.errors import UploadError

__all__ = ["StallWatchdog", "xet_session", "forget_session", "upload_commit", "discard_prepared", "PREPARED_MIN_LIFETIME_S"]

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
    """Drop a session after ``sigint_abort`` destroyed its runtime (and any commit prepared in it); the next call builds a new one."""
    discard_prepared()
    with _sessions_lock:
        _sessions.pop(compression_policy, None)


# -- commits prepared ahead -----------------------------------------------------------------------

#: a prepared commit is used only while its seeded CAS token has at least this long to live; an
#: older one is dropped (hf_xet would refresh the token, but a fresh build is cheaper than a doubt)
PREPARED_MIN_LIFETIME_S = 300.0


class _Relay:
    """The ``progress_callback`` of a commit built before its sink: forwards to that sink's display once claimed."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: Callable[[Any, Any], None] | None = None

    def __call__(self, group: Any, items: Any) -> None:
        target = self.target
        if target is not None:
            target(group, items)


@dataclass(eq=False)
class _Prepared:
    key: tuple[Any, ...]
    expires_at: float
    relay: _Relay | None
    thread: threading.Thread | None = None
    commit: Any = None
    error: BaseException | None = field(default=None, repr=False)


_prepared_lock = threading.Lock()
_prepared: _Prepared | None = None  # one slot: the commit for the next upload of the last configuration
_last_key: tuple[Any, ...] | None = None  # configuration of the last upload: a repeat means a loop


def _frozen(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((headers or {}).items()))


def _build(prepared: _Prepared, session: Any, kwargs: dict[str, Any]) -> None:
    try:
        prepared.commit = session.new_upload_commit(**kwargs, progress_callback=prepared.relay)
    except BaseException as exc:  # the upload that claims it builds its own, and raises that one's error
        prepared.error = exc
        logger.debug("preparing the next Xet upload commit failed: %s", exc)


def _abort_commit(commit: Any) -> None:
    try:
        commit.abort()
    except Exception as exc:  # an unused commit: nothing was stored through it
        logger.debug("aborting a prepared Xet commit failed: %s", exc)


def _drop(prepared: _Prepared | None) -> None:
    if prepared is None:
        return
    if prepared.thread is not None:
        prepared.thread.join()
    if prepared.commit is not None:
        _abort_commit(prepared.commit)
        prepared.commit = None


def discard_prepared() -> None:
    """Drop the prepared commit, if any (after a failure, before a runtime teardown, at exit)."""
    global _prepared
    with _prepared_lock:
        prepared, _prepared = _prepared, None
    _drop(prepared)


atexit.register(discard_prepared)


def upload_commit(
    compression_policy: str,
    *,
    endpoint: str,
    token: str,
    token_expiry_unix_secs: float,
    token_refresh_url: str,
    token_refresh_headers: Mapping[str, str],
    custom_headers: Mapping[str, str],
    progress_callback: Callable[[Any, Any], None] | None = None,
    prepare_next: bool = True,
) -> tuple[Any, Callable[[bool], None]]:
    """A new hf_xet upload commit, and ``settle(discard)`` to call once the upload is over (or failed).

    Takes the commit prepared by the previous upload of the same configuration (endpoint, token
    refresh URL and headers, compression policy, with or without a progress display) when there is
    one; from the second upload of a configuration on, starts preparing the next one on a helper
    thread (``HF_BUCKET_SINK_PREPARE_COMMITS=0`` turns that off; ``prepare_next=False`` for an upload
    that is known to end a sequence, e.g. a manifest right after its data). ``settle`` joins that thread;
    ``settle(True)`` (a failure) also discards what it prepared.
    """
    global _prepared, _last_key
    session = xet_session(compression_policy)
    key = (os.getpid(), id(session), compression_policy, endpoint, token_refresh_url,
           _frozen(token_refresh_headers), _frozen(custom_headers), progress_callback is not None)
    kwargs: dict[str, Any] = {
        "endpoint": endpoint, "token": token, "token_expiry_unix_secs": int(token_expiry_unix_secs),
        "token_refresh_url": token_refresh_url, "token_refresh_headers": dict(token_refresh_headers),
        "custom_headers": dict(custom_headers),
    }
    with _prepared_lock:
        taken = _prepared if _prepared is not None and _prepared.key == key else None
        stale = _prepared if _prepared is not None and taken is None else None
        if taken is not None or stale is not None:
            _prepared = None
        repeat, _last_key = _last_key == key, key
    _drop(stale)  # another configuration's: this process has moved on
    commit = _claim(taken, progress_callback)
    if commit is None:
        commit = session.new_upload_commit(**kwargs, progress_callback=progress_callback)
    mine: _Prepared | None = None
    if repeat and prepare_next and prepare_commits():
        with _prepared_lock:
            if _prepared is None:  # else another thread's upload already prepares one
                mine = _prepared = _Prepared(key, float(token_expiry_unix_secs), _Relay() if progress_callback is not None else None)
                mine.thread = threading.Thread(target=_build, args=(mine, session, kwargs), name="hf-bucket-sink-prepare", daemon=True)
                mine.thread.start()  # under the lock: a claimer may join it as soon as it is in the slot

    def settle(discard: bool) -> None:
        if mine is not None and mine.thread is not None:
            mine.thread.join()  # the build is CPU in hf_xet, tens of ms: no thread of ours outlives the upload
        if discard:
            discard_prepared()

    return commit, settle


def _claim(prepared: _Prepared | None, progress_callback: Callable[[Any, Any], None] | None) -> Any:
    """The prepared commit if it was built and its token still has time to live, else ``None``."""
    if prepared is None:
        return None
    if prepared.thread is not None:
        prepared.thread.join()
    commit, prepared.commit = prepared.commit, None
    if commit is None:
        return None
    if prepared.expires_at - time.time() < PREPARED_MIN_LIFETIME_S:
        _abort_commit(commit)
        return None
    if prepared.relay is not None:
        prepared.relay.target = progress_callback
    return commit


