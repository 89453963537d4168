"""Every exception hf-bucket-sink raises.

Each class derives from :class:`BucketSinkError` *and* from the builtin that
callers (Polars, fsspec, Ray, plain ``except OSError``) already understand, so
code that knows nothing about this package still reacts sensibly::

    try:
        hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/b/x.parquet")
    except FileNotFoundError:      # BucketNotFoundError is one
        ...

Errors that mean the same as a ``huggingface_hub`` error also subclass it, so code written for the
official client catches ours too::

    except huggingface_hub.errors.BucketNotFoundError:   # ours is one
        ...

Every message says what went wrong *and what to do about it*.
"""

from __future__ import annotations

from typing import Any

import httpx2
from huggingface_hub import errors as hf_errors

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
    "FileVersionGoneError",
    "InvalidFileError",
    "HubResponseError",
    "UploadError",
    "CommitError",
    "QueryError",
    "IncompleteFileError",
]


class BucketSinkError(Exception):
    """Base class of every error raised by hf-bucket-sink."""


class _HubHTTPError(BucketSinkError, hf_errors.HfHubHTTPError):
    """Base of our errors that are also ``huggingface_hub`` HTTP errors.

    ``huggingface_hub`` requires the HTTP response; ours are also raised where there is none (a
    file missing from a listing, a connection that failed), so ``response`` is optional here:
    ``request_id``, ``server_message``, ``response`` are then ``None``. Picklable either way
    (Ray and Spark ship errors between processes; a response does not pickle, so it is dropped).
    """

    def __init__(self, message: str, *, response: httpx2.Response | None = None, server_message: str | None = None) -> None:
        if response is not None:
            hf_errors.HfHubHTTPError.__init__(self, message, response=response, server_message=server_message)
            return
        httpx2.HTTPError.__init__(self, message)
        self.request_id = None
        self.server_message = server_message
        self.response = None  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (type(self), str(self), self.server_message, dict(self.__dict__)))


def _rebuild(cls: type[_HubHTTPError], message: str, server_message: str | None, state: dict[str, Any]) -> _HubHTTPError:
    error = cls(message, server_message=server_message)
    state = {k: v for k, v in state.items() if k not in ("response", "_request", "request")}
    error.__dict__.update(state)
    return error


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


class BucketNotFoundError(_HubHTTPError, FileNotFoundError, hf_errors.BucketNotFoundError):
    """The bucket does not exist, or the token cannot see it (private buckets answer 404)."""


class BucketFileNotFoundError(_HubHTTPError, FileNotFoundError, hf_errors.RemoteEntryNotFoundError):
    """The bucket is visible but the file, folder or glob to read matches nothing in it."""


class FileVersionGoneError(BucketFileNotFoundError):
    """The version of a file that a scan listed (its Xet hash) is no longer in Xet storage: the file was
    overwritten or deleted and its old data collected. Nothing of a newer version was read; run the query again."""


class InvalidFileError(BucketSinkError, ValueError):
    """A file a scan read is not valid in the scan's format (e.g. a CSV matched by a Parquet glob)."""


class BucketFileExistsError(BucketSinkError, FileExistsError):
    """The target already exists and ``if_exists="error"`` was asked for."""


class HubResponseError(_HubHTTPError, OSError):
    """The Hub answered with an unexpected status or a body that cannot be understood."""


class UploadError(BucketSinkError, OSError):
    """Bytes could not be stored in Xet storage; nothing was registered in the bucket."""


class CommitError(BucketSinkError, OSError):
    """The bytes were stored but making them visible in the bucket (``/batch``) failed part-way.

    ``visible``: paths this commit made visible (confirmed on the Hub); ``not_visible``: paths it
    did not; ``previous_intact``: whether the output as it was before (its commit point and files)
    is still what readers see. Rerunning the same write finishes the job: the bytes are already in
    Xet, so only the registration is redone::

        except CommitError as exc:
            print(exc.visible, exc.not_visible, exc.previous_intact)
    """

    def __init__(
        self,
        message: str,
        *,
        visible: tuple[str, ...] = (),
        not_visible: tuple[str, ...] = (),
        previous_intact: bool = False,
    ) -> None:
        super().__init__(message)
        self.visible = tuple(visible)
        self.not_visible = tuple(not_visible)
        self.previous_intact = previous_intact

    def __reduce__(self) -> tuple[object, ...]:  # picklable with its attributes (Ray ships errors)
        return (_rebuild_commit_error, (str(self), self.visible, self.not_visible, self.previous_intact))


def _rebuild_commit_error(message: str, visible: tuple[str, ...], not_visible: tuple[str, ...], intact: bool) -> CommitError:
    return CommitError(message, visible=visible, not_visible=not_visible, previous_intact=intact)


class QueryError(BucketSinkError, RuntimeError):
    """The Polars query failed while streaming; nothing was registered. The cause is chained."""


class IncompleteFileError(UploadError):
    """A written file was refused before registration: it does not end with a valid footer (a writer
    that failed part-way and closed the file on its error path) or was still open when its
    transaction ended. Nothing of it was registered; any previous version at its path is intact."""
