"""``BucketPath``: parse and validate ``hf://buckets/<namespace>/<bucket>/<path>`` URIs.

Validation happens before anything touches the network or runs a query, so a typo
costs nothing::

    >>> p = BucketPath.parse("hf://buckets/me/my-bucket/data/x.parquet")
    >>> p.bucket_id, p.path
    ('me/my-bucket', 'data/x.parquet')
    >>> str(p)
    'hf://buckets/me/my-bucket/data/x.parquet'

Rules follow the Hub: bucket ids use the repository-name rules, object keys the
Storage Buckets key rules (no ``//``, no ``.``/``..`` segments, no backslash or
control characters, at most 1024 bytes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from hf_bucket_sink.errors import InvalidBucketPathError

__all__ = ["BucketPath", "is_bucket_uri", "BUCKET_URI_PREFIX"]

BUCKET_URI_PREFIX = "hf://buckets/"
MAX_KEY_BYTES = 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,96}$")
_EXAMPLE = "hf://buckets/<namespace>/<bucket>/<path/in/bucket>"


def is_bucket_uri(obj: Any) -> bool:
    """True when ``obj`` is a str or path-like spelled ``hf://buckets/...``."""
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
    return isinstance(obj, str) and obj.startswith(BUCKET_URI_PREFIX)


def _check_name(value: str, what: str, uri: str) -> None:
    if not _NAME_RE.match(value) or "--" in value or ".." in value or value[0] in "-." or value[-1] in "-.":
        raise InvalidBucketPathError(
            f"Invalid {what} {value!r} in {uri!r}: use 1-96 letters, digits, '-', '_' or '.', "
            f"not starting or ending with '-' or '.', without '--' or '..'. Expected {_EXAMPLE}."
        )


def _check_key(key: str, uri: str, *, allow_dir: bool) -> None:
    problem = None
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        problem = f"it is longer than {MAX_KEY_BYTES} bytes"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        problem = "it contains a control character (e.g. NUL or a newline)"
    elif "\\" in key:
        problem = "it contains a backslash; use '/' between folders"
    elif any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        problem = "it is not valid UTF-8"
    else:
        body = key[:-1] if allow_dir and key.endswith("/") else key
        segments = body.split("/")
        if key.startswith("/"):
            problem = "it starts with '/'"
        elif "" in segments:
            problem = "it has an empty folder name ('//' or a trailing '/')"
        elif any(s in (".", "..") for s in segments):
            problem = "it has a '.' or '..' segment"
    if problem:
        raise InvalidBucketPathError(f"Invalid path inside the bucket in {uri!r}: {problem}. Expected {_EXAMPLE}.")


@dataclass(frozen=True, slots=True)
class BucketPath:
    """A location in a Storage Bucket: ``namespace``/``bucket`` plus a ``path`` inside it.

    ``path`` is ``""`` for the bucket root; a directory path ends with ``/``.
    Build one with :meth:`parse`; the constructor does not validate.
    """

    namespace: str
    bucket: str
    path: str = ""

    @classmethod
    def parse(cls, uri: str | os.PathLike[str], *, kind: str = "file") -> BucketPath:
        """Parse and validate ``uri``.

        ``kind="file"`` needs a file path (not empty, no trailing ``/``); ``"dir"`` accepts the
        bucket root or a folder and normalises it to end with ``/``; ``"any"`` accepts both.
        Raises :class:`~hf_bucket_sink.InvalidBucketPathError` with the reason and the expected form.
        """
        if kind not in ("file", "dir", "any"):
            raise ValueError(f"kind must be 'file', 'dir' or 'any', not {kind!r}")
        if isinstance(uri, os.PathLike):
            uri = os.fspath(uri)
        if not isinstance(uri, str):
            raise InvalidBucketPathError(
                f"A bucket path must be a string like {_EXAMPLE}, not {type(uri).__name__}."
            )
        if not uri.startswith(BUCKET_URI_PREFIX):
            hint = ""
            if uri.lower().startswith(BUCKET_URI_PREFIX) or uri.startswith("hf://bucket/"):
                hint = " (the scheme is case-sensitive: 'hf://buckets/')"
            raise InvalidBucketPathError(f"{uri!r} is not a bucket URI{hint}. Expected {_EXAMPLE}.")
        rest = uri[len(BUCKET_URI_PREFIX) :]
        parts = rest.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise InvalidBucketPathError(f"{uri!r} does not name a namespace and a bucket. Expected {_EXAMPLE}.")
        namespace, bucket = parts[0], parts[1]
        if "@" in bucket:
            raise InvalidBucketPathError(f"{uri!r}: buckets have no revisions; remove the '@...' part.")
        _check_name(namespace, "namespace", uri)
        _check_name(bucket, "bucket name", uri)
        key = parts[2] if len(parts) == 3 else ""
        if kind == "file":
            if key == "" or key.endswith("/"):
                raise InvalidBucketPathError(
                    f"{uri!r} names a folder, but a file is needed: add a file name, "
                    f"e.g. {BUCKET_URI_PREFIX}{namespace}/{bucket}/{key}data.parquet."
                )
            _check_key(key, uri, allow_dir=False)
        elif key:
            _check_key(key, uri, allow_dir=True)
            if kind == "dir" and not key.endswith("/"):
                key += "/"
        return cls(namespace, bucket, key)

    @property
    def bucket_id(self) -> str:
        """``"namespace/bucket"``, the id the Hub API uses."""
        return f"{self.namespace}/{self.bucket}"

    @property
    def is_dir(self) -> bool:
        return self.path == "" or self.path.endswith("/")

    @property
    def name(self) -> str:
        """The last segment of the path (the file name)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def join(self, relative: str) -> BucketPath:
        """The file ``relative`` below this folder (validated)."""
        base = self.path if self.is_dir else self.path + "/"
        return BucketPath.parse(f"{BUCKET_URI_PREFIX}{self.bucket_id}/{base}{relative}", kind="file")

    def __str__(self) -> str:
        return f"{BUCKET_URI_PREFIX}{self.bucket_id}/{self.path}" if self.path else f"{BUCKET_URI_PREFIX}{self.bucket_id}"
