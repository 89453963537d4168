"""Everything that depends on Polars internals or on behaviour of one Polars version, in one place.

The rest of the package talks to Polars through its public API and through these functions; when
Polars changes, this module (and its test, ``tests/unit/test_polars_compat.py``) is where it shows::

    >>> check_polars_version()                 # raises outside SUPPORTED_POLARS
    >>> spec = partition_spec(pl.PartitionBy("hf://buckets/me/b/out/", key="lang"))
    >>> spec.base_path
    'hf://buckets/me/b/out/'
    >>> target = with_file_path_provider(spec, provider)   # same PartitionBy, our provider

What is relied on, measured on Polars 2.1 (docs/architecture.md):

- ``pl.PartitionBy`` keeps its settings in a private dataclass (``_pl_partition_by``); we read it
  and build a copy with our own ``file_path_provider`` (the only way to hand Polars one writable
  file object per partition).
- Polars never calls ``close()`` on a file object it was given; it calls ``flush()`` once a file is
  complete and then drops it, so "dropped" is the sign that a partition file is complete.
- Partition key expressions are ``PyExpr`` objects; ``polars._utils.wrap.wrap_expr`` turns them
  back into printable expressions (for the manifest).
- ``install()`` replaces Polars' methods; the original is kept on the wrapper under
  :data:`ORIGINAL_ATTRIBUTE` so that our own calls never route back into themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import polars as pl

__all__ = [
    "SUPPORTED_POLARS",
    "ORIGINAL_ATTRIBUTE",
    "check_polars_version",
    "partition_spec",
    "with_file_path_provider",
    "describe_expressions",
    "original",
    "mark_original",
]

#: Polars releases this package is tested with: ``(lowest, first unsupported)``, as (major, minor).
SUPPORTED_POLARS = ((2, 1), (2, 2))
#: attribute on an ``install()`` wrapper that holds Polars' own method or function
ORIGINAL_ATTRIBUTE = "__hf_bucket_sink_original__"


def _version(text: str) -> tuple[int, int]:
    parts = text.split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def check_polars_version(version: str | None = None) -> None:
    """Raise ``ImportError`` when the installed Polars (or ``version``) is outside :data:`SUPPORTED_POLARS`.

    Outside the range the internals above may have moved: failing loudly at import beats writing
    a wrong file. ``HF_BUCKET_SINK_ALLOW_ANY_POLARS=1`` skips the check (at your own risk).
    """
    import os

    if os.environ.get("HF_BUCKET_SINK_ALLOW_ANY_POLARS") == "1":
        return
    found = version or pl.__version__
    low, high = SUPPORTED_POLARS
    if not low <= _version(found) < high:
        raise ImportError(
            f"hf-bucket-sink supports Polars {low[0]}.{low[1]}.x up to (not including) {high[0]}.{high[1]}, "
            f"but Polars {found} is installed. Install a supported Polars (pip install 'polars>={low[0]}.{low[1]},"
            f"<{high[0]}.{high[1]}'), or set HF_BUCKET_SINK_ALLOW_ANY_POLARS=1 to try anyway."
        )


def partition_spec(target: pl.PartitionBy) -> Any:
    """The settings of a ``pl.PartitionBy`` (``base_path``, ``key``, ``include_key``, ``max_rows_per_file``, …)."""
    return target._pl_partition_by


def with_file_path_provider(spec: Any, provider: Callable[[Any], Any]) -> pl.PartitionBy:
    """A ``pl.PartitionBy`` with the settings of ``spec`` and ``provider`` as its ``file_path_provider``."""
    target = pl.PartitionBy.__new__(pl.PartitionBy)
    target._pl_partition_by = dataclasses.replace(spec, file_path_provider=provider)
    return target


def describe_expressions(exprs: Any) -> list[str] | None:
    """Partition key expressions as Polars prints them (``['col("lang")']``), or ``None`` if unknown."""
    if not exprs:
        return None
    try:
        from polars._utils.wrap import wrap_expr

        return [str(wrap_expr(e)) for e in exprs]
    except (ImportError, AttributeError, TypeError):  # private API moved: the description is optional
        return None


def original(function: Any) -> Any:
    """Polars' own method or function, also when ``install()`` has replaced it."""
    return getattr(function, ORIGINAL_ATTRIBUTE, function)


def mark_original(wrapper: Any, function: Any) -> None:
    """Record on an ``install()`` wrapper which Polars callable it replaces."""
    setattr(wrapper, ORIGINAL_ATTRIBUTE, function)
