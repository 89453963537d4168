"""``hf-bucket-sink sql QUERY --table NAME=SRC ... --into DEST``: Polars SQL streamed into a bucket."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from hf_bucket_sink.cli.common import (
    add_write_arguments,
    first_line,
    one_line_errors,
    parse_sources,
    scan_sources,
    stream_into_bucket,
)
from hf_bucket_sink.errors import InvalidOptionError, QueryError

__all__ = ["configure_parser", "run", "DESCRIPTION", "EPILOG"]

DESCRIPTION = """\
Run a Polars SQL query over named sources and stream its result into a Storage Bucket.

Each --table NAME=SRC makes SRC (any source `cp` takes: path, glob, folder, s3://, hf://datasets,
hf://buckets, '-') queryable as NAME; repeat a NAME to read several SRCs as one table. The query
runs on Polars' streaming engine (bounded memory) and the output is registered only when complete.
The query is planned before anything is uploaded: a syntax error, an unknown table or column fails
at once and nothing is written."""

EPILOG = """\
examples:
  hf-bucket-sink sql "SELECT carrier, COUNT(*) AS flights, AVG(arr_delay) AS delay FROM f GROUP BY carrier" \\
      --table f=flights.csv --into hf://buckets/me/data/delays.parquet

  hf-bucket-sink sql "SELECT * FROM e WHERE level = 'error'" --table 'e=logs/*.jsonl' \\
      --into hf://buckets/me/data/errors/ --partition-by service --json

  hf-bucket-sink sql "SELECT u.name, o.total FROM o JOIN u ON o.user_id = u.id" \\
      --table o=hf://buckets/me/data/orders.parquet --table u=users.csv --into hf://buckets/me/data/report.csv

A folder DEST without --to is written as Parquet. Exit code 0 on success, 1 with a one-line message."""


def _table(value: str) -> tuple[str, str]:
    name, sep, source = value.partition("=")
    name = name.strip()
    if not sep or not name or not source:
        raise argparse.ArgumentTypeError(f"expected NAME=SRC (e.g. flights=flights.csv), got {value!r}")
    if not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise argparse.ArgumentTypeError(f"table name {name!r} must be letters, digits and '_' (not starting with a digit)")
    return name, source


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``sql``'s arguments to ``parser``."""
    parser.add_argument("query", metavar="QUERY", help="a SELECT statement in Polars SQL")
    parser.add_argument(
        "--table", "-t", dest="tables", action="append", type=_table, default=[], metavar="NAME=SRC", required=True,
        help="a source the query names as NAME (repeatable; a repeated NAME adds sources to that table)",
    )
    parser.add_argument("--into", required=True, metavar="DEST", help="hf://buckets/<namespace>/<bucket>/<file or folder/>")
    add_write_arguments(parser, default_dir_format="parquet")


@one_line_errors
def run(args: argparse.Namespace) -> int:
    """Run ``sql``; returns 0 (errors are raised as BucketSinkError for the CLI boundary)."""
    import polars as pl

    named: dict[str, list[str]] = {}
    for name, source in args.tables:
        named.setdefault(name, []).append(source)
    if sum(src == "-" for sources in named.values() for src in sources) > 1:
        raise InvalidOptionError("Only one --table can read stdin ('-').")
    parsed = {name: parse_sources(texts, args.from_format, what=f"--table {name}") for name, texts in named.items()}

    def query(stack: ExitStack, options: Mapping[str, Any]) -> pl.LazyFrame:
        frames = {name: scan_sources(sources, args, stack, options) for name, sources in parsed.items()}
        try:
            lf = pl.SQLContext(frames, eager=False).execute(args.query)
        except pl.exceptions.PolarsError as exc:
            tables = ", ".join(sorted(frames))
            raise QueryError(f"The SQL query is not valid: {first_line(exc)} (tables: {tables}). Nothing was written.") from exc
        if not isinstance(lf, pl.LazyFrame):  # execute(eager=False) always returns one; keep mypy honest
            lf = lf.lazy()
        return lf

    return stream_into_bucket(args, args.into, query, what="SQL query", dir_format="parquet", file_name=None)
