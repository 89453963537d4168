"""``install()`` / ``uninstall()``: teach Polars' own methods about ``hf://buckets`` paths.

>>> import hf_bucket_sink, polars as pl
>>> hf_bucket_sink.install()
>>> lf.sink_parquet("hf://buckets/me/my-bucket/data.parquet", storage_options={"token": "hf_..."})

Opt-in and reversible: only calls whose target is an ``hf://buckets/`` URI are routed to
this package; every other call reaches Polars untouched. Methods that cannot write to a
bucket yet raise :class:`~hf_bucket_sink.UnsupportedTargetError` naming what can.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

import polars as pl

from hf_bucket_sink.errors import UnsupportedTargetError
from hf_bucket_sink.paths import is_bucket_uri

__all__ = ["install", "uninstall", "is_installed"]

_lock = threading.Lock()
_originals: dict[tuple[type, str], Callable[..., Any]] = {}

_SUPPORTED = "LazyFrame.sink_parquet and DataFrame.write_parquet"
_UNSUPPORTED = [
    (pl.LazyFrame, "sink_csv"),
    (pl.LazyFrame, "sink_ndjson"),
    (pl.LazyFrame, "sink_ipc"),
    (pl.DataFrame, "write_csv"),
    (pl.DataFrame, "write_ndjson"),
    (pl.DataFrame, "write_ipc"),
    (pl.DataFrame, "write_json"),
]


def _target_of(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    if args:
        return args[0]
    return kwargs.get(name)


def _is_bucket_target(target: Any) -> bool:
    if isinstance(target, pl.PartitionBy):
        inner = getattr(target, "_pl_partition_by", None)
        return is_bucket_uri(getattr(inner, "base_path", None))
    return is_bucket_uri(target)


def _reject_partition(target: Any, method: str) -> None:
    if isinstance(target, pl.PartitionBy):
        raise UnsupportedTargetError(
            f"{method} into a partitioned bucket directory is not supported yet; write one file "
            "(hf://buckets/<ns>/<bucket>/<file>.parquet) or partition to a local directory."
        )


def _wrap_supported(cls: type, method: str, arg_name: str, ours: Callable[..., Any]) -> Callable[..., Any]:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = _target_of(args, kwargs, arg_name)
        if not _is_bucket_target(target):
            return original(self, *args, **kwargs)
        _reject_partition(target, f"{cls.__name__}.{method}")
        kwargs.pop(arg_name, None)
        if len(args) > 1:
            raise UnsupportedTargetError(f"{cls.__name__}.{method} takes its options as keywords, e.g. compression='zstd'.")
        return ours(self, os.fspath(target), **kwargs)

    wrapper.__hf_bucket_sink_original__ = original  # type: ignore[attr-defined]
    return wrapper


def _wrap_unsupported(cls: type, method: str) -> Callable[..., Any]:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = _target_of(args, kwargs, "path" if method.startswith("sink_") else "file")
        if _is_bucket_target(target):
            raise UnsupportedTargetError(
                f"{cls.__name__}.{method} cannot write to hf://buckets yet. Supported with hf_bucket_sink.install(): "
                f"{_SUPPORTED}; or write locally and upload with `hf buckets cp`."
            )
        return original(self, *args, **kwargs)

    wrapper.__hf_bucket_sink_original__ = original  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Route Polars writes with ``hf://buckets/...`` targets to hf-bucket-sink (idempotent)."""
    from hf_bucket_sink.sinks import sink_parquet, write_parquet

    with _lock:
        if _originals:
            return
        plan: list[tuple[type, str, Callable[..., Any]]] = [
            (pl.LazyFrame, "sink_parquet", _wrap_supported(pl.LazyFrame, "sink_parquet", "path", sink_parquet)),
            (pl.DataFrame, "write_parquet", _wrap_supported(pl.DataFrame, "write_parquet", "file", write_parquet)),
        ]
        plan += [(cls, m, _wrap_unsupported(cls, m)) for cls, m in _UNSUPPORTED if hasattr(cls, m)]
        for cls, method, wrapper in plan:
            _originals[(cls, method)] = getattr(cls, method)
            setattr(cls, method, wrapper)


def uninstall() -> None:
    """Restore Polars' original methods (idempotent)."""
    with _lock:
        for (cls, method), original in _originals.items():
            setattr(cls, method, original)
        _originals.clear()


def is_installed() -> bool:
    return bool(_originals)
