"""``hf-bucket-sink cp SRC... DEST``: convert files (local, s3://, hf://, stdin) into a bucket, streaming.

All SRCs are read as one table (same-format sources in one Polars scan, others concatenated by
column name) and written as one file, or as many with ``--partition-by`` / ``--max-rows-per-file``.
"""

from __future__ import annotations

import argparse

from hf_bucket_sink.cli.common import (
    add_write_arguments,
    one_line_errors,
    parse_sources,
    scan_sources,
    stream_into_bucket,
)

__all__ = ["configure_parser", "run", "DESCRIPTION", "EPILOG"]

DESCRIPTION = """\
Stream files into a Storage Bucket, converting the format on the way (CSV/NDJSON -> Parquet, ...).

SRC is a local path or glob, a folder, s3://..., hf://datasets/..., hf://buckets/..., or '-' for
stdin; its format comes from the extension or --from. DEST is hf://buckets/<namespace>/<bucket>/<path>:
a file (format from the extension or --to) or a folder ending in '/'. Several SRCs are read as
one table. Nothing is held in memory whole (CSV and NDJSON on stdin stream piece by piece, gzip or zstd too; Parquet
and IPC on stdin are spooled to a temporary file, as their readers need to seek), and DEST appears only once every byte is stored: on any error nothing is registered.
This is not a byte copy: for that, use `hf buckets cp`."""

EPILOG = """\
examples:
  # CSV -> Parquet (zstd by default), one file
  hf-bucket-sink cp flights.csv hf://buckets/me/data/flights.parquet

  # a pile of NDJSON -> Parquet partitioned by a column (hive folders carrier=AA/00000000.parquet)
  hf-bucket-sink cp 'logs/*.jsonl' hf://buckets/me/data/logs/ --to parquet --partition-by carrier

  # stdin -> Parquet, fail if the file already exists, print the result for a script
  zcat big.csv.gz | hf-bucket-sink cp - hf://buckets/me/data/big.parquet --from csv --if-exists error --json

  # a dataset on the Hub or on S3 -> gzipped CSV in 1M-row files
  hf-bucket-sink cp 's3://bucket/events/*.parquet' hf://buckets/me/data/events/ --to csv --compression gzip \\
      --max-rows-per-file 1000000

  # dedup-friendly Parquet for a table re-uploaded every day
  hf-bucket-sink cp daily.csv hf://buckets/me/data/daily.parquet --cdc

environment: HF_TOKEN, HF_ENDPOINT (e.g. the URL printed by `hf-bucket-sink serve`),
HF_HUB_DISABLE_PROGRESS_BARS=1. Exit code 0 on success, 1 with a one-line message on any error."""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``cp``'s arguments to ``parser`` (created with RawDescriptionHelpFormatter by the caller)."""
    parser.add_argument("sources", nargs="+", metavar="SRC", help="file, glob, folder, URL or '-' (stdin)")
    parser.add_argument("dest", metavar="DEST", help="hf://buckets/<namespace>/<bucket>/<file or folder/>")
    add_write_arguments(parser, default_dir_format="the sources' format")


@one_line_errors
def run(args: argparse.Namespace) -> int:
    """Run ``cp``; returns 0 (errors are raised as BucketSinkError for the CLI boundary)."""
    sources = parse_sources(args.sources, args.from_format)
    formats = {s.fmt for s in sources}
    single = sources[0].text if len(sources) == 1 and sources[0].single_file else None
    return stream_into_bucket(
        args, args.dest, lambda stack, options: scan_sources(sources, args, stack, options),
        what="copy", dir_format=formats.pop() if len(formats) == 1 else None, file_name=single,
    )
