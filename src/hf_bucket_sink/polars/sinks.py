"""Polars glue: ``sink_parquet`` / ``sink_csv`` / ``sink_ndjson`` / ``sink_ipc`` and the DataFrame
``write_*`` functions into ``hf://buckets/...``, one file or partitioned.

>>> import polars as pl, hf_bucket_sink
>>> lf = pl.scan_csv("flights.csv").filter(pl.col("dep_delay") > 0)
>>> result = hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/my-bucket/late.parquet")
>>> print(result)   # uri, size, Xet hash, bytes sent vs deduplicated, seconds
>>> hf_bucket_sink.sink_csv(lf, pl.PartitionBy("hf://buckets/me/my-bucket/by-carrier/", key="carrier"))

The order of work is the promise: validate the target and the options, resolve the token, ask
the Hub for a Xet write token (so a bad token or a missing bucket fails *before* the query
runs), check ``if_exists``, then stream, then register every file together.

All formats and both target kinds go through one :func:`_sink`; a format is just the name of
Polars' sink method, a content type and how its row counts can be read.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import polars as pl

from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.polars.backpressure import bounded_streaming, morsel_budget_requested
from hf_bucket_sink.polars.cdc import cdc_options, write_cdc_parquet
from hf_bucket_sink.errors import (
    BucketFileExistsError,
    BucketSinkError,
    InvalidOptionError,
    QueryError,
    UnsupportedTargetError,
)
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.manifest import LEGACY_MANIFEST_NAME, MANIFEST_VERSION, Manifest, read_manifest
from hf_bucket_sink.core.paths import BucketPath, is_bucket_uri
from hf_bucket_sink.core.progress import progress_reporter
from hf_bucket_sink.core.result import FileResult, SinkResult
from hf_bucket_sink.core.upload import UploadSession
from hf_bucket_sink.core.writers import UploadTuning

__all__ = [
    "sink_parquet", "sink_csv", "sink_ndjson", "sink_ipc",
    "write_parquet", "write_csv", "write_ndjson", "write_ipc",
    "MANIFEST_NAME", "MANIFEST_VERSION", "FORMATS", "manifest_fields", "partition_file_path",
]

logger = logging.getLogger("hf_bucket_sink")

IfExists = Literal["overwrite", "error"]
#: the previous release's manifest name inside a directory; the commit point now lives beside it (core/manifest.py)
MANIFEST_NAME = LEGACY_MANIFEST_NAME

# Polars options that make no sense for a bucket target (we own the destination and run eagerly).
_RESERVED = {"path", "file", "self", "storage_options", "credential_provider", "mkdir", "lazy", "sync_on_close", "sinked_paths_callback"}
# accepted for compatibility with Polars calls and ignored: buckets have no directories to create
_IGNORED = {"mkdir"}
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Polars percent-encodes these in hive values (measured, 2.1); we add '\\', which bucket keys refuse
_HIVE_ESCAPE = set(' %/:=\\')


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    sink: str  # LazyFrame method
    write: str  # DataFrame method
    extension: str  # of partition files, as Polars names them
    content_type: str
    rows: str | None  # RowCounter kind for uncompressed output

    def content_type_for(self, options: Mapping[str, Any]) -> str:
        compression = options.get("compression")
        if self.name in ("csv", "ndjson") and compression in ("gzip", "zstd"):
            return f"application/{compression}"  # the bytes are compressed text, not text
        return self.content_type

    def rows_kind(self, options: Mapping[str, Any]) -> str | None:
        if self.rows == "lines" and options.get("compression") not in (None, "uncompressed"):
            return None
        return self.rows


FORMATS = {
    "parquet": _Format("parquet", "sink_parquet", "write_parquet", "parquet", "application/vnd.apache.parquet", "parquet"),
    "csv": _Format("csv", "sink_csv", "write_csv", "csv", "text/csv", None),
    "ndjson": _Format("ndjson", "sink_ndjson", "write_ndjson", "jsonl", "application/x-ndjson", "lines"),
    "ipc": _Format("ipc", "sink_ipc", "write_ipc", "ipc", "application/vnd.apache.arrow.file", None),
}
_SUPPORTED_TEXT = (
    "sink_parquet/sink_csv/sink_ndjson/sink_ipc and write_parquet/write_csv/write_ndjson/write_ipc into "
    "hf://buckets/<namespace>/<bucket>/<file> or pl.PartitionBy('hf://buckets/<namespace>/<bucket>/<dir>/', ...)"
)


def _polars_options(method: Any, given: Mapping[str, Any], what: str) -> dict[str, Any]:
    accepted = [p for p in inspect.signature(method).parameters if p not in _RESERVED]
    unknown = sorted(k for k in given if k not in accepted and k not in _IGNORED)
    if unknown:
        raise InvalidOptionError(
            f"{what} got unsupported option(s) {', '.join(map(repr, unknown))} for a bucket target. "
            f"Accepted: {', '.join(accepted)} (and storage_options={{'token', 'endpoint'}}, if_exists, manifest)."
        )
    return {k: v for k, v in given.items() if k not in _IGNORED}


def _polars_method(cls: type, name: str) -> Callable[..., Any]:
    """Polars' own method, also after install() (the patched one would route our target back to us)."""
    method = getattr(cls, name)
    return getattr(method, "__hf_bucket_sink_original__", method)


def _as_lazy(frame: Any, what: str) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    raise InvalidOptionError(f"{what} needs a polars LazyFrame or DataFrame, not {type(frame).__name__}.")


# -- partitions ------------------------------------------------------------------------------------


def _hive_escape(value: str) -> str:
    out = []
    for ch in value:
        if ch in _HIVE_ESCAPE or ord(ch) < 0x20 or ord(ch) >= 0x7F:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    return "".join(out)


def _formats_like_python(dtype: Any) -> bool:
    return bool(dtype.is_integer()) or dtype == pl.String or dtype == pl.Boolean


def partition_file_path(keys: pl.DataFrame, index_in_partition: int, extension: str) -> str:
    """The path of a partition file below the base directory, named as Polars names it locally.

    >>> partition_file_path(pl.DataFrame({"lang": ["en"]}), 0, "parquet")
    'lang=en/00000000.parquet'

    Hive directories ``key=value`` (values percent-encoded as Polars does, nulls as
    ``__HIVE_DEFAULT_PARTITION__``), then the file's index in its partition.
    """
    parts = []
    if keys.width:
        raw = keys.row(0)
        if all(_formats_like_python(dtype) for dtype in keys.dtypes):
            # Polars prints integers, strings and booleans as Python does (booleans lower-case): skipping
            # the cast query saves ~50 us per file, on Polars' own thread (10,000 partitions: ~0.5 s)
            text = tuple(("true" if v else "false") if type(v) is bool else None if v is None else str(v) for v in raw)
        else:
            try:
                text = keys.select(pl.all().cast(pl.String)).row(0)
            except pl.exceptions.PolarsError:  # nested keys have no string cast
                text = tuple(None if v is None else str(v) for v in raw)
        for name, original, value in zip(keys.columns, raw, text, strict=True):
            shown = _HIVE_NULL if original is None else _hive_escape(value if value is not None else str(original))
            parts.append(f"{_hive_escape(name)}={shown}")
    parts.append(f"{index_in_partition:08d}.{extension}")
    return "/".join(parts)


@dataclass
class _Partitioned:
    base: BucketPath
    spec: Any  # polars' _PartitionByInner
    user_provider: Callable[[Any], Any] | None


def _parse_target(target: Any, what: str) -> BucketPath | _Partitioned:
    if isinstance(target, pl.PartitionBy):
        inner = target._pl_partition_by
        if not is_bucket_uri(inner.base_path):
            raise UnsupportedTargetError(
                f"{what} with hf_bucket_sink writes partitions into a bucket: PartitionBy's base path must be "
                f"hf://buckets/<namespace>/<bucket>/<dir>/, not {inner.base_path!r}. For a local directory call Polars directly."
            )
        provider = inner.file_path_provider
        if provider is not None and not callable(provider):
            raise UnsupportedTargetError(
                f"{what} into a bucket supports PartitionBy(file_path_provider=<callable returning a relative path>) "
                f"or none, not {type(provider).__name__}."
            )
        return _Partitioned(BucketPath.parse(inner.base_path, kind="dir"), inner, provider)
    if is_bucket_uri(target):
        return BucketPath.parse(target, kind="file")
    if isinstance(target, (str, os.PathLike)):
        raise UnsupportedTargetError(
            f"{what} via hf_bucket_sink writes only to buckets, not {os.fspath(target)!r}. Supported: {_SUPPORTED_TEXT}. "
            "For other targets call Polars directly."
        )
    raise UnsupportedTargetError(f"{what} got a target of type {type(target).__name__}. Supported: {_SUPPORTED_TEXT}.")


def _relative_from_user(provider: Callable[[Any], Any], args: Any, base: BucketPath) -> str:
    produced = provider(args)
    if isinstance(produced, os.PathLike):
        produced = os.fspath(produced)
    if not isinstance(produced, str):
        raise UnsupportedTargetError(
            f"A file_path_provider for a bucket target must return a path relative to {base} (a str), "
            f"not {type(produced).__name__}: the upload stream is opened by hf_bucket_sink."
        )
    prefix = str(base) if base.path else str(base) + "/"
    if produced.startswith(prefix):
        produced = produced[len(prefix) :]
    return produced


def manifest_fields(fmt: _Format, schema: pl.Schema, spec: Any) -> dict[str, Any]:
    """What a partitioned Polars output records in its manifest besides the files (core/manifest.py)."""
    try:
        from polars._utils.wrap import wrap_expr

        keys = [str(wrap_expr(e)) for e in spec.key] if spec.key else None
    except Exception:  # noqa: BLE001 - private Polars API: describing the keys is best effort
        keys = None
    return {
        "format": fmt.name,
        "schema": [{"name": name, "type": str(dtype)} for name, dtype in schema.items()],
        "partitioning": {
            "key": keys,
            "include_key": spec.include_key,
            "max_rows_per_file": spec.max_rows_per_file,
            "approximate_bytes_per_file": None if spec.approximate_bytes_per_file >= (1 << 64) - 1 else spec.approximate_bytes_per_file,
        },
    }


# -- content-defined chunking ----------------------------------------------------------------------

# Polars sink_parquet options that mean the same for pyarrow's CDC writer
_CDC_SHARED = ("compression", "compression_level", "row_group_size", "data_page_size", "statistics", "metadata")


def _check_cdc(value: Any, parsed: Any, sink_options: Mapping[str, Any], what: str) -> bool | dict[str, int]:
    """Validate ``content_defined_chunking`` and the options it can honour, before any network call."""
    chunking = cdc_options(value)
    if not chunking:
        return chunking
    if not isinstance(parsed, BucketPath):
        raise InvalidOptionError(
            f"{what}: content_defined_chunking writes one file; it is not supported with PartitionBy targets yet. "
            "Write one file, or drop content_defined_chunking for a partitioned output."
        )
    unsupported = sorted(k for k in sink_options if k not in _CDC_SHARED)
    if unsupported:
        raise InvalidOptionError(
            f"{what}: option(s) {', '.join(map(repr, unsupported))} are not supported with content_defined_chunking "
            f"(pyarrow writes the file). Accepted: {', '.join(_CDC_SHARED)}."
        )
    statistics = sink_options.get("statistics", True)
    if not isinstance(statistics, bool):
        raise InvalidOptionError(f"{what}: with content_defined_chunking, statistics must be True or False, not {statistics!r}.")
    return chunking


def _cdc_writer_options(sink_options: Mapping[str, Any]) -> dict[str, Any]:
    # None means "Polars' default" for row groups and pages: use the CDC writer's tuned defaults instead
    return {k: v for k, v in sink_options.items() if v is not None}


# -- the one sink ------------------------------------------------------------------------------------


def _tuning_for(fmt: _Format, options: Mapping[str, Any], chunking: Any) -> UploadTuning:
    # zstd/snappy-compressed Parquet and IPC pages do not shrink under LZ4, so hf_xet's attempts are
    # wasted CPU (W1: 7.0 vs 7.2 CPU-s in two of three runs, 0.4% more bytes sent). Text and
    # uncompressed columnar output keep "auto": there LZ4 saves bandwidth.
    compression = options.get("compression", "zstd" if fmt.name == "parquet" else None)
    compressed = fmt.name in ("parquet", "ipc") and compression not in (None, "uncompressed")
    return UploadTuning(compression_policy="none" if compressed or chunking else "auto")




def _check_if_exists(hub: HubClient, target: BucketPath | _Partitioned, if_exists: str) -> Manifest | None:
    """Apply ``if_exists`` before the query runs; returns a directory output's committed manifest (the write's starting point)."""
    if isinstance(target, BucketPath):
        if if_exists == "error" and hub.paths_info(target.bucket_id, [target.path]):
            raise BucketFileExistsError(
                f"{target} already exists and if_exists='error' was given; nothing was run. Delete it, choose "
                "another path, or pass if_exists='overwrite'."
            )
        return None
    base = target.base
    if if_exists == "error":
        for entry in hub.list_tree(base.bucket_id, base.path, recursive=True):
            if entry.get("type") != "directory" and str(entry.get("path", "")).startswith(base.path):
                raise BucketFileExistsError(
                    f"{base} already holds files (e.g. {entry.get('path')!r}) and if_exists='error' was given; nothing "
                    "was run. Delete them, choose another directory, or pass if_exists='overwrite'."
                )
    # the committed output this write replaces: compared again right before the commit point
    return read_manifest(hub, base.bucket_id, base.path)


def _sink(
    frame: Any,
    target: Any,
    fmt: _Format,
    options: Mapping[str, Any],
    *,
    storage_options: Mapping[str, Any] | None,
    if_exists: str,
    manifest: bool | None,
    what: str,
    content_defined_chunking: bool | Mapping[str, int] | None = None,
) -> SinkResult:
    parsed = _parse_target(target, what)
    lf = _as_lazy(frame, what)
    sink_options = _polars_options(getattr(pl.LazyFrame, fmt.sink), options, what)
    chunking = _check_cdc(content_defined_chunking, parsed, sink_options, what)
    if if_exists not in ("overwrite", "error"):
        raise InvalidOptionError(f"{what}: if_exists must be 'overwrite' (the default, as in Polars) or 'error', not {if_exists!r}.")
    if manifest not in (None, True, False):
        raise InvalidOptionError(f"{what}: manifest must be None or True (a commit point, the default) or False (none), not {manifest!r}.")
    bucket_id = parsed.bucket_id if isinstance(parsed, BucketPath) else parsed.base.bucket_id
    hub = HubClient(resolve_credentials(storage_options))
    access = hub.xet_token(bucket_id, write=True)  # preflight: fails before the query runs
    previous = _check_if_exists(hub, parsed, if_exists)
    shown = str(parsed) if isinstance(parsed, BucketPath) else str(parsed.base)
    logger.info("streaming %s into %s via %s", fmt.name, shown, access.cas_url)
    schema = lf.collect_schema()
    content_type = fmt.content_type_for(sink_options)
    rows_kind = fmt.rows_kind(sink_options)
    provider_errors: list[BaseException] = []

    with progress_reporter(shown) as progress, UploadSession(
        hub, bucket_id, access, tuning=_tuning_for(fmt, sink_options, chunking), progress_callback=progress
    ) as session:
        if isinstance(parsed, BucketPath):
            sink_target: Any = session.open_writer(parsed, content_type=content_type, rows=rows_kind)
        else:
            part = parsed

            def provider(args: Any) -> Any:
                try:
                    if part.user_provider is not None:
                        relative = _relative_from_user(part.user_provider, args, part.base)
                    else:
                        relative = partition_file_path(args.partition_keys, args.index_in_partition, fmt.extension)
                    return session.open_partition(part.base.join(relative), content_type=content_type, rows=rows_kind)
                except BaseException as exc:  # Polars wraps callback errors; keep ours to re-raise typed
                    provider_errors.append(exc)
                    raise

            sink_target = pl.PartitionBy.__new__(pl.PartitionBy)
            sink_target._pl_partition_by = dataclasses.replace(part.spec, file_path_provider=provider)
        try:
            # bound Polars' run-ahead so a slow link slows the query instead of filling memory
            if chunking:  # pyarrow's CDC writer pulls the stream itself, under bounded_streaming
                write_cdc_parquet(lf, sink_target, cdc=chunking, **_cdc_writer_options(sink_options))
            else:
                # Polars' own morsel size unless the user set a morsel budget: resized morsels move
                # Parquet row groups, and the file should be the one Polars writes locally
                with bounded_streaming(schema, resize_morsels=morsel_budget_requested()):
                    _polars_method(pl.LazyFrame, fmt.sink)(lf, sink_target, **sink_options)
        except BucketSinkError:
            raise
        except Exception as exc:
            failure = session.failure() or next((e for e in provider_errors if isinstance(e, BucketSinkError)), None)
            if failure is not None:
                raise failure from exc
            raise QueryError(
                f"The Polars query failed while streaming into {shown}: {exc}. Nothing was registered and any "
                "previous version is intact; fix the query and run it again."
            ) from exc
        if isinstance(parsed, BucketPath):
            return session.commit()
        return session.commit(
            uri=str(parsed.base) + ("" if parsed.base.path else "/"), directory=parsed.base.path, mode="overwrite",
            manifest=manifest is not False, manifest_fields=manifest_fields(fmt, schema, parsed.spec), previous=previous,
        )


def _pop_cdc(fmt: _Format, options: dict[str, Any]) -> Any:
    if "content_defined_chunking" in options and fmt.name != "parquet":
        raise InvalidOptionError(f"content_defined_chunking is a Parquet option; {fmt.sink}/{fmt.write} do not take it.")
    return options.pop("content_defined_chunking", None)


def _make_sink(fmt: _Format) -> Callable[..., SinkResult]:
    def sink(
        frame: pl.LazyFrame | pl.DataFrame,
        path: str | os.PathLike[str] | pl.PartitionBy,
        *,
        storage_options: Mapping[str, Any] | None = None,
        if_exists: IfExists = "overwrite",
        manifest: bool | None = None,
        **options: Any,
    ) -> SinkResult:
        cdc = _pop_cdc(fmt, options)
        return _sink(
            frame, path, fmt, options, storage_options=storage_options, if_exists=if_exists, manifest=manifest,
            what=fmt.sink, content_defined_chunking=cdc,
        )

    sink.__name__ = sink.__qualname__ = fmt.sink
    return sink


def _make_write(fmt: _Format) -> Callable[..., SinkResult]:
    write_params = set(inspect.signature(getattr(pl.DataFrame, fmt.write)).parameters)
    sink_params = set(inspect.signature(getattr(pl.LazyFrame, fmt.sink)).parameters)
    shared = sorted((write_params & sink_params) - _RESERVED)

    def write(
        df: pl.DataFrame,
        path: str | os.PathLike[str] | pl.PartitionBy,
        *,
        storage_options: Mapping[str, Any] | None = None,
        if_exists: IfExists = "overwrite",
        manifest: bool | None = None,
        **options: Any,
    ) -> SinkResult:
        if not isinstance(df, pl.DataFrame):
            raise InvalidOptionError(f"{fmt.write} needs a polars DataFrame, not {type(df).__name__}.")
        options = dict(options)
        cdc = _pop_cdc(fmt, options)
        if fmt.name == "parquet":
            if options.pop("use_pyarrow", False):
                raise InvalidOptionError("write_parquet into a bucket uses Polars' own writer: drop use_pyarrow=True.")
            key = options.pop("partition_by", None)
            if key is not None:  # DataFrame.write_parquet(partition_by=...) means hive directories, as PartitionBy(key=)
                if isinstance(path, pl.PartitionBy):
                    raise InvalidOptionError("write_parquet: give partition_by or a PartitionBy target, not both.")
                path = pl.PartitionBy(path, key=key)
        unsupported = sorted(k for k in options if k not in shared and k not in _IGNORED)
        if unsupported:
            raise InvalidOptionError(
                f"{fmt.write} got option(s) {', '.join(map(repr, unsupported))} that a bucket target does not support. "
                f"Accepted: {', '.join(shared)} (and storage_options={{'token', 'endpoint'}}, if_exists, manifest)."
            )
        return _sink(
            df, path, fmt, options, storage_options=storage_options, if_exists=if_exists, manifest=manifest,
            what=fmt.write, content_defined_chunking=cdc,
        )

    write.__name__ = write.__qualname__ = fmt.write
    return write


_COMMON_DOC = """
    ``path`` is ``hf://buckets/<namespace>/<bucket>/<path/in/bucket>`` for one file, or
    ``pl.PartitionBy("hf://buckets/<namespace>/<bucket>/<dir>/", key=..., max_rows_per_file=...,
    approximate_bytes_per_file=...)`` for many: files are named as Polars names them locally
    (``key=value/00000000.{ext}``), or by a ``file_path_provider`` returning paths relative to the
    directory. ``options`` are Polars' own options of the method of the same name.
    ``storage_options`` takes ``token`` and ``endpoint`` (defaults: ``HF_TOKEN`` / the saved token,
    ``HF_ENDPOINT`` / https://huggingface.co).

    ``if_exists="overwrite"`` (default, as Polars) replaces files of the same name (other files in a
    partition directory are left alone); ``"error"`` raises ``BucketFileExistsError`` before the
    query runs if the file, or any file under the directory, exists. ``manifest``: write
    ``_manifest.json`` after a partitioned output's files - ``None`` when needed (more than 1,000
    files, registered in several batches), ``True`` always, ``False`` never
    (see docs/partitioned-outputs.md).

    Files appear in the bucket only after every byte of every file is stored, all registered
    together; on any error or Ctrl-C nothing is registered and existing files are left as they were.
    Returns a :class:`~hf_bucket_sink.SinkResult` listing every file (URI, size, Xet hash, rows where known).

    Raises (all subclasses of :class:`~hf_bucket_sink.BucketSinkError`):
    ``InvalidBucketPathError`` / ``InvalidOptionError`` / ``UnsupportedTargetError`` (ValueError) for bad input,
    ``AuthenticationError`` / ``BucketAccessDeniedError`` (PermissionError), ``BucketNotFoundError``
    (FileNotFoundError) and ``BucketFileExistsError`` (FileExistsError) before the query runs,
    ``QueryError`` if the query fails, ``UploadError`` / ``CommitError`` (OSError) if storing fails.
"""

sink_parquet = _make_sink(FORMATS["parquet"])
sink_parquet.__doc__ = """Stream ``frame`` (LazyFrame or DataFrame) as Parquet into a Storage Bucket.

    >>> hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/b/data.parquet", compression="zstd")
    >>> hf_bucket_sink.sink_parquet(lf, pl.PartitionBy("hf://buckets/me/b/by-lang/", key="lang"))
    >>> hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/b/daily.parquet", content_defined_chunking=True)

    ``content_defined_chunking=True`` (or a dict with ``min_chunk_size``, ``max_chunk_size``,
    ``norm_level``) writes the file with pyarrow's content-defined-chunking Parquet writer, tuned
    so that re-uploading an edited table sends only the changed chunks (a 1% insert: ~5% of the
    file instead of ~50%); single files only; options then limited to compression,
    compression_level, row_group_size, data_page_size, statistics, metadata (docs/dedup.md).
""" + _COMMON_DOC

sink_csv = _make_sink(FORMATS["csv"])
sink_csv.__doc__ = """Stream ``frame`` as CSV into a Storage Bucket (``LazyFrame.sink_csv``'s options).

    >>> hf_bucket_sink.sink_csv(lf, "hf://buckets/me/b/export.csv", separator=";")
    >>> hf_bucket_sink.sink_csv(lf, pl.PartitionBy("hf://buckets/me/b/parts/", max_rows_per_file=1_000_000))
""" + _COMMON_DOC

sink_ndjson = _make_sink(FORMATS["ndjson"])
sink_ndjson.__doc__ = """Stream ``frame`` as newline-delimited JSON into a Storage Bucket.

    >>> hf_bucket_sink.sink_ndjson(lf, "hf://buckets/me/b/rows.jsonl")
    >>> hf_bucket_sink.sink_ndjson(lf, pl.PartitionBy("hf://buckets/me/b/by-day/", key="day"))
""" + _COMMON_DOC

sink_ipc = _make_sink(FORMATS["ipc"])
sink_ipc.__doc__ = """Stream ``frame`` as an Arrow IPC file (Feather v2) into a Storage Bucket.

    >>> hf_bucket_sink.sink_ipc(lf, "hf://buckets/me/b/table.arrow", compression="zstd")
""" + _COMMON_DOC

write_parquet = _make_write(FORMATS["parquet"])
write_parquet.__doc__ = """Write an eager DataFrame as Parquet into a bucket; same guarantees and errors as :func:`sink_parquet`.

    >>> hf_bucket_sink.write_parquet(df, "hf://buckets/me/b/df.parquet", row_group_size=100_000)
    >>> hf_bucket_sink.write_parquet(df, "hf://buckets/me/b/by-year/", partition_by="year")

    Accepts ``DataFrame.write_parquet``'s options that the streaming writer shares, plus
    ``partition_by`` (hive directories, like ``PartitionBy(key=...)``) and
    ``content_defined_chunking`` (see :func:`sink_parquet`).
""" + _COMMON_DOC

write_csv = _make_write(FORMATS["csv"])
write_csv.__doc__ = """Write an eager DataFrame as CSV into a bucket; same guarantees and errors as :func:`sink_csv`.

    >>> hf_bucket_sink.write_csv(df, "hf://buckets/me/b/df.csv", separator="\\t")
""" + _COMMON_DOC

write_ndjson = _make_write(FORMATS["ndjson"])
write_ndjson.__doc__ = """Write an eager DataFrame as NDJSON into a bucket; same guarantees and errors as :func:`sink_ndjson`.

    >>> hf_bucket_sink.write_ndjson(df, "hf://buckets/me/b/df.jsonl")
""" + _COMMON_DOC

write_ipc = _make_write(FORMATS["ipc"])
write_ipc.__doc__ = """Write an eager DataFrame as an Arrow IPC file into a bucket; same guarantees and errors as :func:`sink_ipc`.

    >>> hf_bucket_sink.write_ipc(df, "hf://buckets/me/b/df.arrow", compression="lz4")
""" + _COMMON_DOC
