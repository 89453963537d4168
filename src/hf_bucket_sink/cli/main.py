"""The ``hf-bucket-sink`` command line: ``cp``, ``sql``, ``ls``, ``du``, ``demo`` and ``serve``.

Each sub-command lives in its own module; this file only parses the first word and
turns our typed errors into one-line messages with exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hf_bucket_sink.errors import BucketSinkError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-bucket-sink",
        description="Stream Polars pipelines into Hugging Face Storage Buckets over Xet.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve",
        help="run a local Hub (Storage Buckets API + Xet CAS) for tests and offline work",
        description="Run a local Hub: the Storage Bucket API and a Xet CAS server in one process.",
    )
    try:
        from hf_bucket_sink.localhub.cli import configure_parser as configure_serve
    except ImportError as exc:  # the [localhub] extra is not installed: every other command still works
        serve.set_defaults(serve_unavailable=str(exc))
        serve.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    else:
        configure_serve(serve)

    from hf_bucket_sink.cli.demo import configure_parser as configure_demo

    demo = sub.add_parser(
        "demo",
        help="stream a TPC-H pipeline into a bucket on an embedded local Hub, read it back, verify",
        description="Start a local Hub in-process, stream a real Polars pipeline into a bucket, read it back.",
    )
    configure_demo(demo)

    # cp / sql / ls / du: hf_bucket_sink.commands (imported here only for their flags; Polars loads on use)
    from hf_bucket_sink.cli import cp, ls, sql

    raw = argparse.RawDescriptionHelpFormatter
    cp.configure_parser(sub.add_parser(
        "cp", help="stream files (local, s3://, hf://, stdin) into a bucket, converting the format",
        description=cp.DESCRIPTION, epilog=cp.EPILOG, formatter_class=raw,
    ))
    sql.configure_parser(sub.add_parser(
        "sql", help="run a Polars SQL query over files and stream the result into a bucket",
        description=sql.DESCRIPTION, epilog=sql.EPILOG, formatter_class=raw,
    ))
    ls.configure_parser(sub.add_parser(
        "ls", help="list a bucket or a folder in it", description=ls.LS_DESCRIPTION, epilog=ls.LS_EPILOG, formatter_class=raw,
    ))
    ls.configure_du_parser(sub.add_parser(
        "du", help="sizes, file counts and dedup of a bucket or folder",
        description=ls.DU_DESCRIPTION, epilog=ls.DU_EPILOG, formatter_class=raw,
    ))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hf-bucket-sink``; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except BucketSinkError as exc:
        # one line, no traceback: every message already says what to do (HF_BUCKET_SINK_DEBUG=1 for more)
        if os.environ.get("HF_BUCKET_SINK_DEBUG"):
            raise
        print(f"hf-bucket-sink: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hf-bucket-sink: interrupted; nothing was registered", file=sys.stderr)
        return 130


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "serve":
        unavailable = getattr(args, "serve_unavailable", None)
        if unavailable:
            print(f"hf-bucket-sink: error: {unavailable}", file=sys.stderr)
            return 2
        from hf_bucket_sink.localhub.cli import run_serve

        return run_serve(args)
    if args.command == "demo":
        from hf_bucket_sink.cli.demo import run_demo

        return run_demo(args)
    if args.command in ("cp", "sql", "ls", "du"):
        from hf_bucket_sink.cli import cp, ls, sql

        run = {"cp": cp.run, "sql": sql.run, "ls": ls.run, "du": ls.run_du}[args.command]
        return run(args)
    parser.error(f"unknown command {args.command!r}")  # argparse exits; keeps mypy happy
    return 2


if __name__ == "__main__":
    sys.exit(main())
