"""The ``hf-bucket-sink`` command line: ``demo`` and ``serve``.

Each sub-command lives in its own module; this file only parses the first word and
turns our typed errors into one-line messages with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-bucket-sink",
        description="Stream Polars pipelines into Hugging Face Storage Buckets over Xet.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from hf_bucket_sink.localhub.cli import configure_parser as configure_serve

    serve = sub.add_parser(
        "serve",
        help="run a local Hub (Storage Buckets API + Xet CAS) for tests and offline work",
        description="Run a local Hub: the Storage Bucket API and a Xet CAS server in one process.",
    )
    configure_serve(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hf-bucket-sink``; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from hf_bucket_sink.localhub.cli import run_serve

        return run_serve(args)
    parser.error(f"unknown command {args.command!r}")  # argparse exits; keeps mypy happy
    return 2


if __name__ == "__main__":
    sys.exit(main())
