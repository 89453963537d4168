"""The file formats Ray datasets are written and read in: extension and content type of each."""

from __future__ import annotations

from typing import Literal

from hf_bucket_sink.errors import InvalidOptionError

__all__ = ["Format", "FORMATS", "check_format"]

Format = Literal["parquet", "csv", "ndjson"]

#: extension and content type of each format's files (NDJSON as .jsonl, like the partitioned sinks)
FORMATS: dict[str, tuple[str, str]] = {
    "parquet": ("parquet", "application/vnd.apache.parquet"),
    "csv": ("csv", "text/csv"),
    "ndjson": ("jsonl", "application/x-ndjson"),
}


def check_format(format: str, what: str) -> None:
    """Raise :class:`~hf_bucket_sink.InvalidOptionError` unless ``format`` is one of :data:`FORMATS`.

    >>> check_format("parquet", "read_bucket")      # fine
    >>> check_format("xlsx", "read_bucket")         # InvalidOptionError naming the formats
    """
    if format not in FORMATS:
        raise InvalidOptionError(f"{what}: format must be one of {', '.join(map(repr, FORMATS))}, not {format!r}.")
