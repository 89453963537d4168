"""Polars glue: ``sink_parquet`` into ``hf://buckets/...``.

>>> import polars as pl, hf_bucket_sink
>>> lf = pl.scan_csv("flights.csv").filter(pl.col("dep_delay") > 0)
>>> result = hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/my-bucket/late.parquet")
>>> print(result)   # uri, size, Xet hash, bytes sent vs deduplicated, seconds

The order of work is the promise: validate the path and the options, resolve the
token, ask the Hub for a Xet write token (so a bad token or a missing bucket fails
*before* the query runs), then stream, then register the file.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from hf_bucket_sink.auth import resolve_credentials
from hf_bucket_sink.backpressure import bounded_streaming
from hf_bucket_sink.errors import BucketSinkError, InvalidOptionError, QueryError
from hf_bucket_sink.hub import HubClient
from hf_bucket_sink.paths import BucketPath
from hf_bucket_sink.progress import progress_reporter
from hf_bucket_sink.result import SinkResult
from hf_bucket_sink.upload import UploadSession, UploadTuning

__all__ = ["sink_parquet", "write_parquet"]

logger = logging.getLogger("hf_bucket_sink")

# Polars options that make no sense for a bucket target (we own the destination and run eagerly).
_RESERVED = {"path", "self", "storage_options", "credential_provider", "mkdir", "lazy", "sync_on_close", "sinked_paths_callback"}


def _polars_options(method: Any, given: Mapping[str, Any], what: str) -> dict[str, Any]:
    accepted = [p for p in inspect.signature(method).parameters if p not in _RESERVED]
    unknown = sorted(k for k in given if k not in accepted)
    if unknown:
        raise InvalidOptionError(
            f"{what} got unsupported option(s) {', '.join(map(repr, unknown))} for a bucket target. "
            f"Accepted: {', '.join(accepted)} (and storage_options={{'token', 'endpoint'}})."
        )
    return dict(given)


def _as_lazy(frame: Any, what: str) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    raise InvalidOptionError(f"{what} needs a polars LazyFrame or DataFrame, not {type(frame).__name__}.")


def sink_parquet(
    frame: pl.LazyFrame | pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> SinkResult:
    """Stream ``frame`` as one Parquet file into a Storage Bucket and register it when complete.

    ``path`` is ``hf://buckets/<namespace>/<bucket>/<path/in/bucket>``. ``options`` are
    Polars' own ``LazyFrame.sink_parquet`` options (``compression``, ``row_group_size``,
    ``statistics``, ``metadata``, ...). ``storage_options`` takes ``token`` and ``endpoint``
    (defaults: ``HF_TOKEN`` / the saved token, ``HF_ENDPOINT`` / https://huggingface.co).

    The file appears in the bucket only after every byte is stored; on any error or Ctrl-C
    nothing is registered and an existing file at ``path`` is left as it was.

    Raises (all subclasses of :class:`~hf_bucket_sink.BucketSinkError`):
    ``InvalidBucketPathError`` / ``InvalidOptionError`` (ValueError) for bad input,
    ``AuthenticationError`` / ``BucketAccessDeniedError`` (PermissionError) and
    ``BucketNotFoundError`` (FileNotFoundError) before the query runs,
    ``QueryError`` if the query fails, ``UploadError`` / ``CommitError`` (OSError) if storing fails.
    """
    target = BucketPath.parse(path, kind="file")
    lf = _as_lazy(frame, "sink_parquet")
    sink_options = _polars_options(pl.LazyFrame.sink_parquet, options, "sink_parquet")
    hub = HubClient(resolve_credentials(storage_options))
    access = hub.xet_token(target.bucket_id, write=True)  # preflight: fails before the query runs
    logger.info("streaming Parquet into %s via %s", target, access.cas_url)

    with progress_reporter(str(target)) as progress, UploadSession(
        hub, target.bucket_id, access, tuning=UploadTuning(), progress_callback=progress
    ) as session:
        writer = session.open_writer(target)
        try:
            # bound Polars' run-ahead so a slow link slows the query instead of filling memory
            with bounded_streaming(lf.collect_schema()):
                lf.sink_parquet(writer, **sink_options)
        except BucketSinkError:
            raise
        except Exception as exc:
            failure = writer.failure()
            if failure is not None:
                raise failure from exc
            raise QueryError(
                f"The Polars query failed while streaming into {target}: {exc}. Nothing was registered and any "
                "previous version of the file is intact; fix the query and run it again."
            ) from exc
        return session.commit()


# DataFrame.write_parquet options that mean the same for the streaming sink.
_WRITE_PARQUET_SHARED = {
    "compression", "compression_level", "statistics", "row_group_size", "data_page_size", "metadata",
    "arrow_schema", "encryption",
}


def write_parquet(
    df: pl.DataFrame,
    path: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> SinkResult:
    """Write an eager DataFrame into a bucket; same guarantees and errors as :func:`sink_parquet`.

    Accepts ``DataFrame.write_parquet``'s options that the streaming writer shares
    (compression, compression_level, statistics, row_group_size, data_page_size, metadata).
    """
    if not isinstance(df, pl.DataFrame):
        raise InvalidOptionError(f"write_parquet needs a polars DataFrame, not {type(df).__name__}.")
    unsupported = sorted(k for k in options if k not in _WRITE_PARQUET_SHARED and not (k == "use_pyarrow" and not options[k]))
    if unsupported:
        raise InvalidOptionError(
            f"write_parquet got option(s) {', '.join(map(repr, unsupported))} that a bucket target does not support. "
            f"Accepted: {', '.join(sorted(_WRITE_PARQUET_SHARED))} (and storage_options={{'token', 'endpoint'}})."
        )
    options.pop("use_pyarrow", None)
    return sink_parquet(df.lazy(), path, storage_options=storage_options, **options)
