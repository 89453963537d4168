"""Every exception hf-bucket-sink raises.

Each class derives from :class:`BucketSinkError` *and* from the builtin that
callers (Polars, fsspec, Ray, plain ``except OSError``) already understand, so
code that knows nothing about this package still reacts sensibly::

    try:
        hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/b/x.parquet")
    except FileNotFoundError:      # BucketNotFoundError is one
        ...

Every message says what went wrong *and what to do about it*.
"""

from __future__ import annotations

__all__ = [
    "BucketSinkError",
    "InvalidBucketPathError",
    "InvalidOptionError",
    "UnsupportedTargetError",
    "AuthenticationError",
    "BucketAccessDeniedError",
    "BucketNotFoundError",
    "BucketFileExistsError",
    "BucketFileNotFoundError",
    "HubResponseError",
    "UploadError",
    "CommitError",
    "QueryError",
]


class BucketSinkError(Exception):
    """Base class of every error raised by hf-bucket-sink."""


class InvalidBucketPathError(BucketSinkError, ValueError):
    """A path is not a valid ``hf://buckets/<namespace>/<bucket>/<path>`` URI."""


class InvalidOptionError(BucketSinkError, ValueError):
    """An option (``storage_options`` key, sink option, CLI flag) is unknown or has a bad value."""


class UnsupportedTargetError(BucketSinkError, ValueError):
    """The requested write method or format does not support ``hf://buckets`` targets."""


class AuthenticationError(BucketSinkError, PermissionError):
    """No token, or the Hub rejected the token (HTTP 401)."""


class BucketAccessDeniedError(AuthenticationError):
    """The token is valid but may not do this (e.g. a read-only token asked to write; HTTP 403)."""


class BucketNotFoundError(BucketSinkError, FileNotFoundError):
    """The bucket does not exist, or the token cannot see it (private buckets answer 404)."""


class BucketFileNotFoundError(BucketSinkError, FileNotFoundError):
    """The bucket is visible but the file, folder or glob to read matches nothing in it."""


class BucketFileExistsError(BucketSinkError, FileExistsError):
    """The target already exists and ``if_exists="error"`` was asked for."""


class HubResponseError(BucketSinkError, OSError):
    """The Hub answered with an unexpected status or a body that cannot be understood."""


class UploadError(BucketSinkError, OSError):
    """Bytes could not be stored in Xet storage; nothing was registered in the bucket."""


class CommitError(BucketSinkError, OSError):
    """The bytes were stored but registering the file in the bucket (``/batch``) failed."""


class QueryError(BucketSinkError, RuntimeError):
    """The Polars query failed while streaming; nothing was registered. The cause is chained."""
