"""Name and path rules of the local Hub: bucket names, namespaces and file paths inside buckets.

Bucket names follow the Hub's repo-name rules (``hub-bucket-api.md`` §3): ``[\\w.-]``, at most 96
characters, no ``--`` or ``..``, no leading or trailing ``-``/``.``, no ``.git`` suffix. File paths
follow the rules the S3 gateway documents for object keys, tightened a little: relative,
``/``-separated, no empty, ``.`` or ``..`` segment, no backslash, no NUL or other control
character, at most 1024 bytes of UTF-8.

Example::

    >>> check_bucket_name("my-data")
    >>> path_problem("a/../b")
    "path segment '..' is not allowed"
"""

from __future__ import annotations

import re

from .wire import bad_request

__all__ = ["MAX_PATH_BYTES", "check_bucket_name", "check_path", "path_problem", "prefix_problem"]

MAX_NAME_LENGTH = 96
MAX_PATH_BYTES = 1024

_NAME_RE = re.compile(r"^[\w.-]+$", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(name: str, *, what: str = "bucket name") -> str | None:
    """Why ``name`` is not a valid bucket (or namespace) name, or None if it is."""
    if not name:
        return f"{what} must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} {name!r} is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME_RE.match(name):
        return f"{what} {name!r} may only contain letters, digits, '-', '_' and '.'"
    if "--" in name or ".." in name:
        return f"{what} {name!r} must not contain '--' or '..'"
    if name[0] in "-." or name[-1] in "-.":
        return f"{what} {name!r} must not start or end with '-' or '.'"
    if name.endswith(".git"):
        return f"{what} {name!r} must not end with '.git'"
    return None


def check_bucket_name(name: str, *, what: str = "bucket name") -> None:
    """Raise a 400 :class:`~.wire.WireError` when ``name`` breaks the repo-name rules."""
    problem = name_problem(name, what=what)
    if problem is not None:
        raise bad_request(f"Invalid {problem}.")


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file in a bucket, or None if it can."""
    if not path:
        return "path must not be empty"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return f"path is longer than {MAX_PATH_BYTES} bytes (UTF-8)"
    if "\x00" in path:
        return "path must not contain NUL characters"
    if _CONTROL_RE.search(path):
        return "path must not contain control characters"
    if "\\" in path:
        return "path must not contain backslashes; use '/' to separate folders"
    if path.startswith("/"):
        return "path must be relative (no leading '/')"
    if path.endswith("/"):
        return "path must not end with '/'"
    for segment in path.split("/"):
        if segment == "":
            return "path must not contain empty segments ('//')"
        if segment in (".", ".."):
            return f"path segment {segment!r} is not allowed"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "path is not valid UTF-8"
    return None


def check_path(path: str) -> str:
    """Return ``path`` or raise a 400 :class:`~.wire.WireError` naming the broken rule."""
    problem = path_problem(path)
    if problem is not None:
        raise bad_request(f"Invalid path {path!r}: {problem}.")
    return path


def prefix_problem(prefix: str) -> str | None:
    """Like :func:`path_problem` for a listing prefix, which may be empty (the bucket root)."""
    return None if prefix == "" else path_problem(prefix)
