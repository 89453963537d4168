"""What ``cp`` and ``sql`` share: reading sources, the output flags, the sink call, printing results.

The order of work is the Python API's promise, kept on the command line: validate DEST and the
flags, prove the token and the bucket (preflight), open the sources and plan the query, then
stream, then register every file together. So a typo, a missing token or a bad query costs
nothing and leaves nothing in the bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import wraps
from glob import has_magic
from glob import glob as local_glob
from typing import TYPE_CHECKING, Any

from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.errors import (
    AuthenticationError,
    BucketFileExistsError,
    BucketSinkError,
    InvalidBucketPathError,
    InvalidOptionError,
    QueryError,
)
from hf_bucket_sink.core.paths import BucketPath, is_bucket_uri
from hf_bucket_sink.core.progress import progress_enabled, progress_extra
from hf_bucket_sink.core.result import human_bytes

if TYPE_CHECKING:
    import polars as pl

    from hf_bucket_sink.core.result import SinkResult

# Polars and the Hub client are imported inside the functions that use them: building the
# parser (for `serve --help` too) must not pay for them.

__all__ = [
    "FORMATS",
    "SourceNotFoundError",
    "Source",
    "OutputPlan",
    "add_source_arguments",
    "add_output_arguments",
    "add_run_arguments",
    "add_write_arguments",
    "storage_options",
    "parse_sources",
    "scan_sources",
    "check_plan",
    "preflight",
    "plan_output",
    "run_sink",
    "stream_into_bucket",
    "report",
    "result_to_json",
    "human_bytes",
    "first_line",
    "one_line_errors",
    "quiet_progress",
]

FORMATS = ("parquet", "csv", "ndjson", "ipc")
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",  # read as newline-delimited JSON: a single JSON array cannot be streamed
    ".ipc": "ipc",
    ".arrow": "ipc",
    ".feather": "ipc",
}
_OUTPUT_EXTENSION = {"parquet": ".parquet", "csv": ".csv", "ndjson": ".jsonl", "ipc": ".arrow"}
_COMPRESSED_SUFFIX = {".gz": "gzip", ".zst": "zstd"}
_SUFFIX_OF = {v: k for k, v in _COMPRESSED_SUFFIX.items()}
_COMPRESSIONS = {
    "parquet": ("zstd", "snappy", "gzip", "brotli", "lz4", "uncompressed"),
    "csv": ("uncompressed", "gzip", "zstd"),
    "ndjson": ("uncompressed", "gzip", "zstd"),
    "ipc": ("uncompressed", "lz4", "zstd"),
}
# Polars reads these itself; hf://buckets goes through hf_bucket_sink.scan_* instead
_POLARS_HF = ("hf://datasets/", "hf://spaces/")
_SPOOL_CHUNK = 1 << 20
_MAX_MESSAGE = 400


class SourceNotFoundError(BucketSinkError, FileNotFoundError):
    """A command-line source (local path, glob or remote object) does not exist or matches nothing."""


# -- messages -------------------------------------------------------------------------------------


def first_line(exc: BaseException | str | None) -> str:
    """The first non-empty line of an error, trimmed: Polars appends multi-line plan dumps."""
    text = str(exc) if exc is not None else ""
    for line in text.splitlines():
        if line.strip():
            line = line.strip().rstrip(".")
            return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."
    return type(exc).__name__ if isinstance(exc, BaseException) else "unknown error"


def one_line_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Re-raise any multi-line :class:`BucketSinkError` as the same type on one line (cause kept).

    The CLI boundary prints ``str(exc)`` as it is; messages that embed a Polars or server error
    may carry newlines, and a shell user (or a log line in a job) should get exactly one line.
    """

    @wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BucketSinkError as exc:
            text = str(exc)
            if "\n" not in text:
                raise
            try:
                flat: BucketSinkError | None = type(exc)(" ".join(text.split()))
            except TypeError:  # a subclass with another constructor: keep it as it is
                flat = None
            if flat is None:
                raise
            raise flat from exc

    return wrapper


# -- flags ----------------------------------------------------------------------------------------


def _positive_int(value: str) -> int:
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``--from`` and the reader options that apply to CSV / NDJSON sources."""
    group = parser.add_argument_group("reading sources")
    group.add_argument(
        "--from", dest="from_format", choices=FORMATS, default=None, metavar="FORMAT",
        help="format of every source: parquet, csv, ndjson or ipc (default: from each file's extension; "
        "needed for '-' and for folders)",
    )
    group.add_argument("--separator", default=None, help="CSV field separator (default: ',' and tab for .tsv)")
    group.add_argument(
        "--null-value", action="append", default=[], metavar="TEXT",
        help="CSV text that means null, e.g. NA (repeatable)",
    )
    group.add_argument(
        "--infer-schema-length", type=_positive_int, default=10_000, metavar="ROWS",
        help="CSV/NDJSON rows read to guess column types (default: %(default)s)",
    )


def add_output_arguments(parser: argparse.ArgumentParser, *, default_dir_format: str) -> None:
    """The flags that describe what is written into the bucket."""
    group = parser.add_argument_group("writing into the bucket")
    group.add_argument(
        "--to", dest="to_format", choices=FORMATS, default=None, metavar="FORMAT",
        help=f"output format: parquet, csv, ndjson or ipc (default: DEST's extension; for a folder {default_dir_format})",
    )
    group.add_argument(
        "--compression", default=None,
        help="parquet: zstd (default), snappy, gzip, brotli, lz4, uncompressed; csv/ndjson: gzip, zstd "
        "(default: none, or from a .gz/.zst DEST); ipc: lz4, zstd",
    )
    group.add_argument("--compression-level", type=int, default=None, metavar="N", help="compression level")
    group.add_argument("--row-group-size", type=_positive_int, default=None, metavar="ROWS", help="Parquet rows per row group")
    group.add_argument(
        "--partition-by", action="append", default=[], metavar="COLUMN",
        help="write hive folders COLUMN=value/00000000.ext under DEST (repeatable for several keys)",
    )
    group.add_argument(
        "--max-rows-per-file", type=_positive_int, default=None, metavar="ROWS",
        help="start a new file after this many rows (DEST is then a folder)",
    )
    group.add_argument(
        "--cdc", action="store_true",
        help="Parquet with content-defined chunking: re-uploading an edited table sends only the changed chunks "
        "(one file only)",
    )
    group.add_argument(
        "--if-exists", choices=("overwrite", "error"), default="overwrite",
        help="when DEST (or a file under a DEST folder) exists: overwrite (default) or error before anything runs",
    )


def add_run_arguments(parser: argparse.ArgumentParser, *, writes: bool = True) -> None:
    """``--json``, ``--quiet`` and where to connect (flags win over HF_ENDPOINT / HF_TOKEN)."""
    group = parser.add_argument_group("output and connection")
    what = "the SinkResult (uri, files, size, new/deduplicated/uploaded bytes, seconds, rows)" if writes else "the result"
    group.add_argument("--json", action="store_true", help=f"print {what} as one JSON object on stdout")
    group.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress display and no summary (the display is also off when stderr is not a terminal "
        "or HF_HUB_DISABLE_PROGRESS_BARS=1)",
    )
    group.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT, then https://huggingface.co)")
    group.add_argument(
        "--token", default=None,
        help="Hugging Face token (default: HF_TOKEN, then `hf auth login`'s; prefer the environment: flags show in ps)",
    )


def add_write_arguments(parser: argparse.ArgumentParser, *, default_dir_format: str) -> None:
    """Every flag of a command that streams sources into a bucket (``cp``, ``sql``): reading, writing, connection.

    >>> add_write_arguments(parser, default_dir_format="parquet")   # --from ... --to ... --json --token ...
    """
    add_source_arguments(parser)
    add_output_arguments(parser, default_dir_format=default_dir_format)
    add_run_arguments(parser)


def storage_options(args: argparse.Namespace) -> dict[str, Any]:
    """``storage_options`` from ``--token`` / ``--endpoint`` (absent keys fall back to the environment)."""
    options: dict[str, Any] = {}
    if getattr(args, "token", None):
        options["token"] = args.token
    if getattr(args, "endpoint", None):
        options["endpoint"] = args.endpoint
    return options


@contextmanager
def quiet_progress(args: argparse.Namespace) -> Iterator[None]:
    """Turn the progress display off for this command when ``--quiet`` or ``--json`` asks for it."""
    if not (getattr(args, "quiet", False) or getattr(args, "json", False)):
        yield
        return
    before = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read at call time by hf_bucket_sink.core.progress
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
        else:
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = before


# -- sources --------------------------------------------------------------------------------------


def _format_of(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from a file name's extensions: ``x.csv.gz`` -> ``("csv", "gzip")``."""
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    root, ext = os.path.splitext(base)
    compression = _COMPRESSED_SUFFIX.get(ext)
    if compression is not None:
        root, ext = os.path.splitext(root)
    return _EXTENSIONS.get(ext), compression


@dataclass(frozen=True, slots=True)
class Source:
    """One SRC argument: what it is (``stdin``, ``bucket``, ``remote``, ``local``) and its format."""

    text: str
    kind: str
    fmt: str
    #: a single named file (no glob, folder or stdin): its name can name the output
    single_file: bool


def parse_sources(texts: Sequence[str], from_format: str | None, *, what: str = "SRC") -> list[Source]:
    """Classify and check every source before anything is read; raises with a hint on the first bad one."""
    if not texts:
        raise InvalidOptionError(f"No {what} given: name at least one file, glob, URL or '-' for stdin.")
    if sum(1 for t in texts if t == "-") > 1:
        raise InvalidOptionError(f"'-' (stdin) can be given only once as {what}.")
    sources: list[Source] = []
    for text in texts:
        if text == "-":
            kind = "stdin"
        elif is_bucket_uri(text):
            BucketPath.parse(text, kind="any")  # a bad bucket URI fails here, with the expected form
            kind = "bucket"
        elif text.startswith("hf://") and not text.startswith(_POLARS_HF):
            raise InvalidBucketPathError(
                f"{what} {text!r} is not a source this tool reads: use hf://buckets/<namespace>/<bucket>/<path> "
                "for buckets or hf://datasets/<namespace>/<dataset>/<path> for datasets (the scheme is case-sensitive)."
            )
        elif "://" in text:
            kind = "remote"  # s3://, gs://, az://, https://, hf://datasets: Polars' own readers
        else:
            kind = "local"
            path = os.path.expanduser(text)
            if has_magic(path):
                if not local_glob(path, recursive=True):
                    raise SourceNotFoundError(f"{what} {text!r} matches no file. Check the pattern (quote it so the shell does not expand it).")
            elif not os.path.exists(path):
                raise SourceNotFoundError(f"{what} {text!r} does not exist. Check the path (relative to {os.getcwd()}).")
        fmt = from_format
        if fmt is None:
            fmt = _format_of(text)[0] if text != "-" else None
        if fmt is None:
            shown = "stdin ('-')" if text == "-" else repr(text)
            raise InvalidOptionError(
                f"Cannot tell the format of {what} {shown} from its name: add --from parquet|csv|ndjson|ipc."
            )
        name_like = text != "-" and not has_magic(text) and not text.endswith("/") and _format_of(text)[0] is not None
        sources.append(Source(text, kind, fmt, single_file=name_like))
    return sources


def _stdin_frame(fmt: str, args: argparse.Namespace) -> pl.LazyFrame:
    """CSV / NDJSON on stdin as a stream read once, piece by piece (no temporary file)."""
    from hf_bucket_sink.polars.text_stream import scan_stream

    if sys.stdin is None or sys.stdin.isatty():
        raise InvalidOptionError("SRC '-' reads stdin, but nothing is piped in: e.g. `cat data.csv | hf-bucket-sink cp - ...`.")
    return scan_stream(sys.stdin.buffer, fmt, **_reader_options(fmt, args, []))


def _spool_stdin(stack: ExitStack, fmt: str) -> str:
    """Copy stdin (Parquet / IPC: their readers need to seek) to a private temporary file in 1 MiB pieces.

    Polars' readers need a file they can seek (given a pipe they read it all into memory), so
    this stdin costs disk, not memory: one copy in ``$TMPDIR``, deleted when the command ends.
    CSV and NDJSON do not come here: they stream (:func:`_stdin_frame`).
    """
    if sys.stdin is None or sys.stdin.isatty():
        raise InvalidOptionError("SRC '-' reads stdin, but nothing is piped in: e.g. `cat data.csv | hf-bucket-sink cp - ...`.")
    folder = tempfile.mkdtemp(prefix="hf-bucket-sink-stdin-")
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, "stdin" + _OUTPUT_EXTENSION[fmt])
    try:
        with open(path, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, _SPOOL_CHUNK)
    except OSError as exc:
        raise InvalidOptionError(f"Could not spool stdin to {folder} (set TMPDIR to a disk with room): {exc}.") from exc
    return path


def _reader_options(fmt: str, args: argparse.Namespace, texts: Sequence[str]) -> dict[str, Any]:
    if fmt == "csv":
        options: dict[str, Any] = {"infer_schema_length": args.infer_schema_length}
        separator = args.separator
        if separator is None and texts and all(t.lower().rstrip("/").endswith((".tsv", ".tsv.gz", ".tsv.zst")) for t in texts):
            separator = "\t"
        if separator is not None:
            options["separator"] = "\t" if separator in ("\\t", "tab") else separator
        if args.null_value:
            options["null_values"] = list(args.null_value)
        return options
    if fmt == "ndjson":
        return {"infer_schema_length": args.infer_schema_length}
    return {}


def _scan_group(kind: str, fmt: str, paths: list[str], args: argparse.Namespace, options: Mapping[str, Any]) -> pl.LazyFrame:
    import polars as pl

    reader_options = _reader_options(fmt, args, paths)
    if kind == "bucket":
        import hf_bucket_sink.polars.scans as bucket_scan

        return getattr(bucket_scan, f"scan_{fmt}")(paths if len(paths) > 1 else paths[0], storage_options=options, **reader_options)
    reader = getattr(pl, f"scan_{fmt}")
    return reader(paths if len(paths) > 1 else paths[0], **reader_options)


def scan_sources(sources: Sequence[Source], args: argparse.Namespace, stack: ExitStack, options: Mapping[str, Any]) -> pl.LazyFrame:
    """One LazyFrame over every source, in order: same-kind, same-format sources share one scan
    (so Polars reads globs and lists in parallel); different groups are concatenated by column name."""
    import polars as pl

    groups: dict[tuple[str, str], list[str]] = {}
    frames_before: list[pl.LazyFrame] = []
    for source in sources:
        if source.kind == "stdin" and source.fmt in ("csv", "ndjson"):
            # CSV / NDJSON stream from the pipe piece by piece: no temporary copy, memory bounded
            frames_before.append(_stdin_frame(source.fmt, args))
            continue
        if source.kind == "stdin":
            path, kind = _spool_stdin(stack, source.fmt), "local"
        else:
            path, kind = (os.path.expanduser(source.text) if source.kind == "local" else source.text), source.kind
        groups.setdefault((kind, source.fmt), []).append(path)
    frames = frames_before
    for (kind, fmt), paths in groups.items():
        try:
            frames.append(_scan_group(kind, fmt, paths, args, options))
        except FileNotFoundError as exc:
            if isinstance(exc, BucketSinkError):
                raise
            raise SourceNotFoundError(f"Source not found: {first_line(exc)}.") from exc
        except (pl.exceptions.PolarsError, OSError) as exc:
            if isinstance(exc, BucketSinkError):
                raise
            raise QueryError(f"Could not open the {fmt} source(s) {', '.join(paths)}: {first_line(exc)}.") from exc
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames, how="diagonal_relaxed")


def check_plan(lf: pl.LazyFrame, what: str) -> pl.Schema:
    """Resolve the query's schema now: a bad column, a bad SQL expression or an unreadable source
    fails here, before anything is uploaded, as a typed one-line error."""
    import polars as pl

    try:
        return lf.collect_schema()
    except FileNotFoundError as exc:
        if isinstance(exc, BucketSinkError):
            raise
        raise SourceNotFoundError(f"A source of the {what} was not found: {first_line(exc)}. Check the path.") from exc
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, BucketSinkError):
            raise
        raise QueryError(f"The {what} cannot run: {first_line(exc)}. Nothing was written.") from exc


def preflight(bucket_id: str, options: Mapping[str, Any]) -> None:
    """Prove the token, the bucket and write access now, before stdin is spooled or a source opened."""
    from hf_bucket_sink.core.hub import HubClient

    creds = resolve_credentials(options)
    if creds.token is None:  # the library's message speaks of storage_options; a shell user has flags
        raise AuthenticationError(
            f"Writing to bucket {bucket_id!r} needs a Hugging Face token, and none was found: set HF_TOKEN, "
            "pass --token, or run `hf auth login`. Nothing was read or written."
        )
    HubClient(creds).xet_token(bucket_id, write=True)


# -- the output -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """Where and how to write: a file URI or a ``pl.PartitionBy`` and the sink options."""

    target: Any
    fmt: str
    options: dict[str, Any]
    bucket_id: str
    shown: str


def plan_output(dest: str, args: argparse.Namespace, *, dir_format: str | None, file_name: str | None) -> OutputPlan:
    """Validate DEST and the output flags (no network).

    DEST is a folder when it ends with ``/``, is a bucket root, or ``--partition-by`` /
    ``--max-rows-per-file`` are given. A folder without partitioning needs ``file_name``
    (the name of a single source) to name the one output file.
    """
    import polars as pl

    if not is_bucket_uri(dest):
        raise InvalidBucketPathError(
            f"DEST {dest!r} is not a bucket: this tool writes into hf://buckets/<namespace>/<bucket>/<path> "
            "(a file, or a folder ending in '/'). For other targets use Polars directly."
        )
    location = BucketPath.parse(dest, kind="any")
    partitioned = bool(args.partition_by or args.max_rows_per_file)
    suffix_compression = None
    if partitioned or location.is_dir:
        fmt = args.to_format or dir_format
        if fmt is None:
            raise InvalidOptionError(f"DEST {dest!r} is a folder: say which format to write with --to parquet|csv|ndjson|ipc.")
        if not partitioned:
            if file_name is None:
                raise InvalidOptionError(
                    f"DEST {dest!r} is a folder and the input is several files, a glob or stdin: name the output file "
                    f"(e.g. {location.join('data' + _OUTPUT_EXTENSION[fmt])}) or split it with --partition-by / "
                    "--max-rows-per-file."
                )
            stem = file_name.rstrip("/").rsplit("/", 1)[-1]
            for _ in range(2):  # x.csv.gz -> x
                stem, ext = os.path.splitext(stem)
                if ext.lower() not in _COMPRESSED_SUFFIX:
                    break
            location = location.join(stem + _OUTPUT_EXTENSION[fmt])
    else:
        named, suffix_compression = _format_of(location.path)
        fmt = args.to_format or named
        if fmt is None:
            raise InvalidOptionError(
                f"Cannot tell the output format from DEST {dest!r}: end it in .parquet, .csv, .jsonl or .arrow, "
                "or add --to parquet|csv|ndjson|ipc."
            )
    compression = args.compression
    if suffix_compression is not None and compression is None:
        if fmt not in ("csv", "ndjson"):
            raise InvalidOptionError(
                f"DEST {dest!r} ends in {_SUFFIX_OF[suffix_compression]}, but {fmt} files are compressed inside: "
                "drop the suffix and use --compression."
            )
        compression = suffix_compression
    options: dict[str, Any] = {}
    if compression is not None:
        if compression not in _COMPRESSIONS[fmt]:
            raise InvalidOptionError(f"--compression {compression!r} is not available for {fmt}: use one of {', '.join(_COMPRESSIONS[fmt])}.")
        options["compression"] = compression
    if args.compression_level is not None:
        if fmt == "ipc":
            raise InvalidOptionError("--compression-level does not apply to ipc output.")
        options["compression_level"] = args.compression_level
    if args.row_group_size is not None:
        if fmt != "parquet":
            raise InvalidOptionError(f"--row-group-size applies to Parquet output, not {fmt}.")
        options["row_group_size"] = args.row_group_size
    if args.cdc:
        if fmt != "parquet":
            raise InvalidOptionError(f"--cdc (content-defined chunking) applies to Parquet output, not {fmt}.")
        if partitioned:
            raise InvalidOptionError("--cdc writes one file: drop --partition-by / --max-rows-per-file, or drop --cdc.")
        options["content_defined_chunking"] = True
    if partitioned:
        base = BucketPath.parse(dest, kind="dir")
        shown = str(base) + ("" if base.path else "/")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "PartitionBy is unstable": not actionable for a shell user
            target: Any = pl.PartitionBy(
                shown, key=list(args.partition_by) or None, max_rows_per_file=args.max_rows_per_file
            )
        return OutputPlan(target, fmt, options, base.bucket_id, shown)
    return OutputPlan(str(location), fmt, options, location.bucket_id, str(location))


class _RowCounter:
    """Counts rows as batches reach the sink (for the progress line; only used on a terminal)."""

    def __init__(self) -> None:
        self.rows = 0
        self._lock = threading.Lock()

    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        with self._lock:
            self.rows += batch.height
        return batch

    def describe(self) -> str:
        return f"{self.rows:,} rows"


def run_sink(lf: pl.LazyFrame, plan: OutputPlan, args: argparse.Namespace, options: Mapping[str, Any]) -> SinkResult:
    """Stream ``lf`` into the bucket with the Python API's sink for ``plan.fmt``."""
    import polars as pl

    from hf_bucket_sink.polars import sinks

    sink = getattr(sinks, f"sink_{plan.fmt}")
    with ExitStack() as stack:
        if progress_enabled():
            # a pass-through step that counts rows; streamable, so the query still runs in pieces
            counter = _RowCounter()
            lf = lf.map_batches(counter, streamable=True)
            stack.enter_context(progress_extra(counter.describe))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", pl.exceptions.PolarsWarning)  # unstable-API notices, not for shell users
        try:
            return sink(lf, plan.target, storage_options=dict(options), if_exists=args.if_exists, **plan.options)
        except BucketFileExistsError as exc:  # reworded: the library's message names the Python keyword
            raise BucketFileExistsError(
                f"{plan.shown} already exists (or, for a folder, holds files) and --if-exists error was given; "
                "nothing was run. Delete it, choose another DEST, or drop --if-exists error to overwrite."
            ) from exc
        except QueryError as exc:
            cause = exc.__cause__ or exc
            raise QueryError(
                f"The query failed while streaming into {plan.shown}: {first_line(cause)}. Nothing was registered; "
                "fix the input or the query and run it again."
            ) from cause


def stream_into_bucket(
    args: argparse.Namespace,
    dest: str,
    query: Callable[[ExitStack, Mapping[str, Any]], pl.LazyFrame],
    *,
    what: str,
    dir_format: str | None,
    file_name: str | None,
) -> int:
    """A write command once its sources are parsed, in the promised order; returns the exit code 0.

    DEST and the output flags are checked (no network), then the token and bucket (preflight),
    then ``query(stack, storage_options)`` opens the sources (closing them on ``stack``) and
    builds the query, whose schema is resolved before any byte is sent; then it streams, the
    files are registered together, and the result is printed. ``what`` names the query in errors.

    >>> return stream_into_bucket(args, args.dest, lambda stack, options: scan_sources(sources, args, stack, options),
    ...                           what="copy", dir_format="csv", file_name=None)
    """
    options = storage_options(args)
    plan = plan_output(dest, args, dir_format=dir_format, file_name=file_name)
    preflight(plan.bucket_id, options)
    with quiet_progress(args), ExitStack() as stack:
        lf = query(stack, options)
        check_plan(lf, what)
        result = run_sink(lf, plan, args, options)
    report(result, args)
    return 0


# -- printing -------------------------------------------------------------------------------------


def result_to_json(result: SinkResult) -> dict[str, Any]:
    """The SinkResult as plain JSON values (what ``--json`` prints)."""

    def file(f: Any) -> dict[str, Any]:
        return {
            "uri": f.uri,
            "size": f.size,
            "xet_hash": f.xet_hash,
            "new_bytes": f.new_bytes,
            "deduplicated_bytes": f.deduplicated_bytes,
            "rows": f.rows,
        }

    return {
        "uri": result.uri,
        "files": [file(f) for f in result.files],
        "size": result.size,
        "new_bytes": result.new_bytes,
        "deduplicated_bytes": result.deduplicated_bytes,
        "dedup_ratio": round(result.dedup_ratio, 6),
        "uploaded_bytes": result.uploaded_bytes,
        "seconds": round(result.seconds, 3),
        "rows": result.rows,
        "manifest": file(result.manifest) if result.manifest is not None else None,
    }


_LISTED_FILES = 20


def report(result: SinkResult, args: argparse.Namespace) -> None:
    """Print the result: one JSON object with ``--json``, nothing with ``--quiet``, else a short summary."""
    if args.json:
        print(json.dumps(result_to_json(result)), flush=True)
        return
    if args.quiet:
        return
    rows = f"{result.rows:,} rows" if result.rows is not None else "rows unknown"
    n = len(result.files)
    rate = result.size / result.seconds if result.seconds > 0 else 0.0
    lines = [
        f"{result.uri}: {rows}, {human_bytes(result.size)} in {n} file{'s' if n != 1 else ''}, "
        f"{result.seconds:.1f} s ({human_bytes(rate)}/s)",
        f"  new {human_bytes(result.new_bytes)}, deduplicated {human_bytes(result.deduplicated_bytes)} "
        f"({100 * result.dedup_ratio:.1f}%), sent {human_bytes(result.uploaded_bytes)}",
    ]
    if n > 1:
        width = max(len(f.uri) for f in result.files[:_LISTED_FILES])
        for f in result.files[:_LISTED_FILES]:
            shown_rows = f"{f.rows:>10,} rows" if f.rows is not None else ""
            lines.append(f"  {f.uri:<{width}}  {human_bytes(f.size):>9}  {shown_rows}".rstrip())
        if n > _LISTED_FILES:
            lines.append(f"  ... and {n - _LISTED_FILES} more (--json lists every file)")
    print("\n".join(lines), flush=True)
