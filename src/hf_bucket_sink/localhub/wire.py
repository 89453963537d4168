"""Wire-level errors of the local Hub: the status codes, headers and bodies clients map to exceptions.

Route handlers raise :class:`WireError` (or one of the factories below); the dispatcher in
:mod:`.app` turns it into an HTTP response. Keeping the exact shapes here, in one place, is what
lets ``huggingface_hub.utils.hf_raise_for_status`` pick the right exception class
(``BucketNotFoundError`` needs 404 + ``X-Error-Code: RepoNotFound`` on an ``/api/buckets/`` URL,
``RemoteEntryNotFoundError`` needs ``X-Error-Code: EntryNotFound``, and so on; see
``hub-bucket-api.md`` §1.5 and §7.5).

Example::

    >>> err = bucket_not_found("alice/data")
    >>> err.status, err.headers["X-Error-Code"]
    (404, 'RepoNotFound')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "WireError",
    "bad_request",
    "bucket_not_found",
    "conflict",
    "entry_not_found",
    "forbidden",
    "not_found",
    "payload_too_large",
    "range_not_satisfiable",
    "unauthorized",
]

#: The body production sends for a missing or invalid token (hub-bucket-api.md §7.5).
UNAUTHORIZED_MESSAGE = "Invalid username or password."


class WireError(Exception):
    """An error response: ``status``, a JSON body ``{"error": message, **extra}`` and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        close_connection: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        if code is not None:
            self.headers["X-Error-Code"] = code
        # Header values must stay on one line and in latin-1; the JSON body keeps the full text.
        self.headers.setdefault("X-Error-Message", _header_safe(message))
        self.body: dict[str, Any] = {"error": message, **(extra or {})}
        self.close_connection = close_connection


def _header_safe(text: str) -> str:
    flat = " ".join(text.split())
    return flat.encode("latin-1", "replace").decode("latin-1")[:1000]


def bad_request(message: str) -> WireError:
    """400: malformed request, invalid name or path, corrupted upload."""
    return WireError(400, message)


def unauthorized(message: str = UNAUTHORIZED_MESSAGE) -> WireError:
    """401: no token where one is required, or an unknown / expired token."""
    return WireError(401, message)


def forbidden(message: str) -> WireError:
    """403: the token is valid but may not do this (``X-Error-Message`` is shown to the user)."""
    return WireError(403, message)


def bucket_not_found(bucket_id: str) -> WireError:
    """404 + ``RepoNotFound``: missing bucket, or a private bucket the caller may not see."""
    return WireError(
        404,
        f"Bucket '{bucket_id}' not found. It may not exist, or it is private and your token cannot see it.",
        code="RepoNotFound",
    )


def entry_not_found(bucket_id: str, path: str) -> WireError:
    """404 + ``EntryNotFound``: a file path that does not exist in an existing bucket."""
    return WireError(404, f"Entry '{path}' not found in bucket '{bucket_id}'.", code="EntryNotFound")


def not_found(message: str = "Not Found") -> WireError:
    """Plain 404 without an error code (unknown route, unknown CAS object)."""
    return WireError(404, message)


def conflict(message: str, **extra: Any) -> WireError:
    """409: the resource exists; ``extra`` keys are merged into the body (create sends ``url``)."""
    return WireError(409, message, extra=extra)


def payload_too_large(limit: int) -> WireError:
    """413: the declared body is larger than the route accepts; the connection is closed unread."""
    return WireError(413, f"Request body larger than {limit} bytes.", close_connection=True)


def range_not_satisfiable(size: int) -> WireError:
    """416 with ``Content-Range: bytes */size``."""
    return WireError(416, "Requested range not satisfiable.", headers={"Content-Range": f"bytes */{size}"})
