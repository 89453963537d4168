"""The ``HF_BUCKET_SINK_*`` tuning variables, read when a session starts (never at import).

>>> upload_timeout()            # seconds without upload progress before a sink gives up (None: never)
120.0
>>> max_upload_concurrency()    # concurrent xorb uploads hf_xet may run (None: hf_xet's own variable is set)
2
>>> prepare_commits()           # prepare the next Xet upload commit during a loop of sinks (core/xet.py)
True
"""

from __future__ import annotations

import os

from hf_bucket_sink.errors import InvalidOptionError

__all__ = [
    "UPLOAD_TIMEOUT_ENV", "DEFAULT_UPLOAD_TIMEOUT", "upload_timeout",
    "MAX_UPLOAD_CONCURRENCY_ENV", "DEFAULT_MAX_UPLOAD_CONCURRENCY", "HF_XET_CONCURRENCY_ENV", "max_upload_concurrency",
    "PREPARE_COMMITS_ENV", "prepare_commits",
]

#: Environment variable: seconds without upload progress after which a sink gives up.
UPLOAD_TIMEOUT_ENV = "HF_BUCKET_SINK_UPLOAD_TIMEOUT"
#: Default stall limit: long enough for hf_xet to ride out a flaky link (its retries back off 3, 9, 27 s…),
#: short enough that a dead server fails a pipeline in minutes, not after hf_xet's 6-minute retry cap.
DEFAULT_UPLOAD_TIMEOUT = 120.0


def upload_timeout() -> float | None:
    """The stall limit from ``HF_BUCKET_SINK_UPLOAD_TIMEOUT`` (seconds; ``0`` disables it), read per session."""
    raw = os.environ.get(UPLOAD_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_UPLOAD_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise InvalidOptionError(
            f"{UPLOAD_TIMEOUT_ENV}={raw!r} is not a number of seconds: set it to e.g. 120, or 0 to wait as long as "
            "hf_xet retries."
        )
    return value or None



#: Environment variable: most xorb uploads hf_xet runs at once (each holds up to 64 MiB).
MAX_UPLOAD_CONCURRENCY_ENV = "HF_BUCKET_SINK_MAX_UPLOAD_CONCURRENCY"
#: hf_xet grows upload concurrency up to 64 when uploads are slow, and each in-flight xorb holds up
#: to 64 MiB, so on a slow link its write() stopped pushing back (W1x5 at 20 MB/s: 2.07x the local
#: peak; capped at 2: 1.44-1.48x, capped at 4: 1.66x). 2 bounds it at 128 MiB; raise it on fast, far links.
DEFAULT_MAX_UPLOAD_CONCURRENCY = 2
HF_XET_CONCURRENCY_ENV = "HF_XET_CLIENT_AC_MAX_UPLOAD_CONCURRENCY"


def max_upload_concurrency() -> int | None:
    """The cap on hf_xet's concurrent xorb uploads; ``None`` when the user set hf_xet's own variable."""
    if os.environ.get(HF_XET_CONCURRENCY_ENV):
        return None  # an explicit hf_xet setting wins
    raw = os.environ.get(MAX_UPLOAD_CONCURRENCY_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD_CONCURRENCY
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidOptionError(
            f"{MAX_UPLOAD_CONCURRENCY_ENV}={raw!r} must be a whole number >= 1 (concurrent xorb uploads, "
            f"each holding up to 64 MiB; default {DEFAULT_MAX_UPLOAD_CONCURRENCY})."
        )
    return int(raw)


#: Environment variable: ``0`` turns off preparing the next hf_xet upload commit during a loop of sinks.
PREPARE_COMMITS_ENV = "HF_BUCKET_SINK_PREPARE_COMMITS"


def prepare_commits() -> bool:
    """Whether a repeated upload prepares the next commit on a helper thread (default yes; ``0``/``false``/``no``/``off``: no)."""
    raw = os.environ.get(PREPARE_COMMITS_ENV, "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise InvalidOptionError(
        f"{PREPARE_COMMITS_ENV}={raw!r} must be 1 (prepare the next upload commit during a loop of sinks, the "
        "default) or 0 (build each commit when its sink starts)."
    )
