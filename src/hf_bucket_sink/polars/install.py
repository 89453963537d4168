"""The Polars hook of ``install()`` / ``uninstall()``: teach Polars' own methods about ``hf://buckets`` paths.

Called by :func:`hf_bucket_sink.install` (:mod:`hf_bucket_sink.hooks`), which also hands fsspec's
``hf`` protocol to the streaming filesystem; this module knows only Polars::

>>> import hf_bucket_sink, polars as pl
>>> hf_bucket_sink.install()
>>> lf.sink_parquet("hf://buckets/me/my-bucket/data.parquet", storage_options={"token": "hf_..."})

Opt-in and reversible: only calls whose target is an ``hf://buckets/`` URI (or a
``pl.PartitionBy`` whose base path is one) are routed to this package; every other call reaches
Polars untouched. Routed: ``LazyFrame.sink_parquet/sink_csv/sink_ndjson/sink_ipc`` and
``DataFrame.write_parquet/write_csv/write_ndjson/write_ipc``. Methods that cannot write to a
bucket (``write_json``, ``write_avro``, ``write_ipc_stream``, ``write_excel``, Delta, Iceberg) raise
:class:`~hf_bucket_sink.UnsupportedTargetError` naming what can.

Reads too: ``pl.scan_parquet/scan_csv/scan_ndjson/scan_ipc`` and ``pl.read_*`` given an
``hf://buckets`` source (or a list of them) go to :mod:`hf_bucket_sink.polars.scans`.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

import polars as pl

from hf_bucket_sink.errors import InvalidOptionError, UnsupportedTargetError
from hf_bucket_sink.core.paths import is_bucket_uri
from hf_bucket_sink.polars.compat import mark_original, partition_spec

__all__ = ["install", "uninstall", "is_installed"]

_lock = threading.Lock()
_originals: dict[tuple[type, str], Callable[..., Any]] = {}

_SUPPORTED = (
    "LazyFrame.sink_parquet/sink_csv/sink_ndjson/sink_ipc and DataFrame.write_parquet/write_csv/write_ndjson/write_ipc "
    "(one file, or pl.PartitionBy for the sink_* methods)"
)
#: (class, method, name of our function in hf_bucket_sink.polars.sinks, name of Polars' target argument)
_ROUTED = [
    (pl.LazyFrame, "sink_parquet", "path"),
    (pl.LazyFrame, "sink_csv", "path"),
    (pl.LazyFrame, "sink_ndjson", "path"),
    (pl.LazyFrame, "sink_ipc", "path"),
    (pl.DataFrame, "write_parquet", "file"),
    (pl.DataFrame, "write_csv", "file"),
    (pl.DataFrame, "write_ndjson", "file"),
    (pl.DataFrame, "write_ipc", "file"),
]
_UNSUPPORTED = [
    (pl.DataFrame, "write_json"),
    (pl.DataFrame, "write_avro"),
    (pl.DataFrame, "write_ipc_stream"),
    (pl.DataFrame, "write_excel"),
    (pl.DataFrame, "write_delta"),
    (pl.DataFrame, "write_iceberg"),
    (pl.LazyFrame, "sink_delta"),
    (pl.LazyFrame, "sink_iceberg"),
]


def _target_of(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    if args:
        return args[0]
    return kwargs.get(name)


def _is_bucket_target(target: Any) -> bool:
    if isinstance(target, pl.PartitionBy):
        return is_bucket_uri(getattr(partition_spec(target), "base_path", None))
    return is_bucket_uri(target)


def _first_argument(cls: type, method: str) -> str:
    params = [p for p in inspect.signature(getattr(cls, method)).parameters if p != "self"]
    return params[0] if params else "path"


def _wrap_supported(cls: type, method: str, arg_name: str, ours: Callable[..., Any]) -> Callable[..., Any]:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = _target_of(args, kwargs, arg_name)
        if not _is_bucket_target(target):
            return original(self, *args, **kwargs)
        kwargs.pop(arg_name, None)
        if len(args) > 1:
            raise UnsupportedTargetError(f"{cls.__name__}.{method} takes its options as keywords, e.g. compression='zstd'.")
        return ours(self, target if isinstance(target, pl.PartitionBy) else os.fspath(target), **kwargs)

    mark_original(wrapper, original)
    return wrapper


def _wrap_unsupported(cls: type, method: str) -> Callable[..., Any]:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = _target_of(args, kwargs, _first_argument(cls, method))
        if _is_bucket_target(target):
            raise UnsupportedTargetError(
                f"{cls.__name__}.{method} cannot write to hf://buckets yet. Supported with hf_bucket_sink.install(): "
                f"{_SUPPORTED}; or write locally and upload with `hf buckets cp`."
            )
        return original(self, *args, **kwargs)

    mark_original(wrapper, original)
    return wrapper


#: Polars readers routed to hf_bucket_sink.polars.scans when the source is an hf://buckets URI (or a list of them)
_READERS = ("scan_parquet", "scan_csv", "scan_ndjson", "scan_ipc", "read_parquet", "read_csv", "read_ndjson", "read_ipc")
_read_originals: dict[str, Callable[..., Any]] = {}


def _is_bucket_source(source: Any) -> bool:
    if isinstance(source, (list, tuple)):
        # any bucket entry routes the list to hf_bucket_sink, which refuses a mixed list with a clear
        # message before the query runs (Polars itself would panic on the hf://buckets entry)
        return any(is_bucket_uri(s) for s in source)
    return is_bucket_uri(source)


def _wrap_reader(name: str, ours: Callable[..., Any]) -> Callable[..., Any]:
    original = getattr(pl, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = args[0] if args else kwargs.get("source")
        if not _is_bucket_source(source):
            return original(*args, **kwargs)
        if len(args) > 1:
            raise InvalidOptionError(f"pl.{name} takes its options as keywords for a bucket source, e.g. n_rows=10.")
        kwargs.pop("source", None)
        return ours(source, **kwargs)

    mark_original(wrapper, original)
    return wrapper


def _install_readers() -> None:
    from hf_bucket_sink.polars import scans

    for name in _READERS:
        if name not in _read_originals:
            _read_originals[name] = getattr(pl, name)
            setattr(pl, name, _wrap_reader(name, getattr(scans, name)))


def _uninstall_readers() -> None:
    for name, original in _read_originals.items():
        setattr(pl, name, original)
    _read_originals.clear()


def install() -> None:
    """Route Polars writes with ``hf://buckets/...`` targets, and reads of such sources, to hf-bucket-sink (idempotent).

    Only Polars: :func:`hf_bucket_sink.install` calls this and also installs the fsspec protocol.
    """
    from hf_bucket_sink.polars import sinks

    with _lock:
        if _originals:
            return
        plan: list[tuple[type, str, Callable[..., Any]]] = [
            (cls, m, _wrap_supported(cls, m, arg, getattr(sinks, m))) for cls, m, arg in _ROUTED if hasattr(cls, m)
        ]
        plan += [(cls, m, _wrap_unsupported(cls, m)) for cls, m in _UNSUPPORTED if hasattr(cls, m)]
        for cls, method, wrapper in plan:
            _originals[(cls, method)] = getattr(cls, method)
            setattr(cls, method, wrapper)
        _install_readers()


def uninstall() -> None:
    """Restore Polars' original methods (idempotent)."""
    with _lock:
        for (cls, method), original in _originals.items():
            setattr(cls, method, original)
        _originals.clear()
        _uninstall_readers()


def is_installed() -> bool:
    """Whether Polars' methods are routed now (:func:`install` ran and :func:`uninstall` did not since)."""
    return bool(_originals)
