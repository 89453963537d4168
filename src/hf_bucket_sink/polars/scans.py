"""Read path: ``scan_*`` / ``read_*`` over ``hf://buckets/...`` files, folders and globs.

>>> import polars as pl, hf_bucket_sink
>>> lf = hf_bucket_sink.scan_parquet("hf://buckets/me/b/events/**/*.parquet", hive_partitioning=True)
>>> lf.filter(pl.col("month") == 3).select("user_id").collect()   # footer + one column of March only

or, after ``hf_bucket_sink.install()``, ``pl.scan_parquet("hf://buckets/...")``.

Scans are lazy, as Polars' own: ``scan_*`` checks only the URI syntax and the option names. The
listing, the footers and the credential check happen when Polars plans the query (each ``collect``,
``sink_*``, ``explain``, ``collect_schema``), so a scan built before its files exist works once they
do, and a scan collected twice sees the files of each moment. With ``schema=`` and
``hive_partitioning=False`` the plan needs nothing from the network (``explain()`` with the Hub down).

Every file is read at the Xet hash its listing gave (docs/read-path.md):

- **Parquet** is read in place with byte ranges: a pyarrow dataset over :class:`RemoteFile`
  objects, read by a Polars IO source one row group at a time (a few row groups in flight), with
  projection, predicate and row-group / hive-partition pruning pushed down. Ranged GETs are checked
  against the listed hash and switch to a by-hash Xet read when the file changed since. Schema drift
  between files is judged by Polars itself (:class:`_DriftCheck`).
- **CSV and NDJSON** stream from Xet (gzip and zstd decompressed on the fly) and are parsed piece by
  piece (polars/text_stream.py): memory is a few pieces, nothing on disk. Options a piece-wise parse
  cannot honour exactly take the older path: a whole-file copy through hf_xet into a private
  temporary folder, read there by Polars' own reader.
- **IPC** is read through its footer, one record batch at a time, by range.

Errors are the project's typed errors (or ``FileNotFoundError`` / ``PermissionError`` subclasses),
also those found while Polars plans (a missing file, a bad token), which Polars 2.1 itself would wrap
in a ``ComputeError`` (see :func:`_typed_planning_errors`); schema drift gives Polars' own exception.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import inspect
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.errors import BucketFileNotFoundError, InvalidFileError, InvalidOptionError
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.manifest import read_manifest
from hf_bucket_sink.core.paths import BUCKET_URI_PREFIX, BucketPath, is_bucket_uri
from hf_bucket_sink.core.remote_file import BlockCache, RangeStore, RangeTransport, RemoteEntry, RemoteFile, ResolveRanges, XetRanges, coalesce, windows

__all__ = [
    "scan_parquet",
    "scan_csv",
    "scan_ndjson",
    "scan_ipc",
    "read_parquet",
    "read_csv",
    "read_ndjson",
    "read_ipc",
    "list_sources",
]

logger = logging.getLogger("hf_bucket_sink")

_GLOB_CHARS = re.compile(r"[*?\[]")
_EXTENSIONS = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv", ".tsv", ".txt"),
    "ndjson": (".ndjson", ".jsonl", ".json"),
    "ipc": (".ipc", ".arrow", ".feather"),
}
# Options that only make sense for local or object-store sources: the bucket supplies them.
_OWNED = {"source", "storage_options", "credential_provider"}


# --- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sources:
    """What a source resolved to: the files, the folder hive keys are relative to, and its shape."""

    files: tuple[RemoteEntry, ...]
    base: str  # "bucket_id/prefix/" every file lives under (hive keys are parsed below it)
    is_directory: bool  # a folder or a glob (Polars enables hive partitioning by default for folders)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans folders, ``*`` / ``?`` / ``[..]`` stay within one (Polars' and fsspec's rules)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        else:
            piece = re.search(r"\*\*|$", pattern[i:])
            assert piece is not None
            chunk = pattern[i : i + piece.start()]
            # fnmatch's '*' crosses '/'; restrict it to one segment
            out += fnmatch.translate(chunk).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*")
            i += len(chunk)
    return re.compile(f"(?s:{out})\\Z")


def _is_hidden(name: str, prefixes: Sequence[str]) -> bool:
    return any(name.startswith(p) for p in prefixes)


def list_sources(
    hub: HubClient, source: Any, fmt: str, *, glob: bool, hidden: Sequence[str]
) -> _Sources:
    uris = list(source) if isinstance(source, (list, tuple)) else [source]
    if not uris:
        raise InvalidOptionError("The source list is empty: pass at least one hf://buckets/<ns>/<bucket>/<path> URI.")
    files: list[RemoteEntry] = []
    bases: list[str] = []
    directory = False
    for uri in uris:
        if not is_bucket_uri(uri):
            raise InvalidOptionError(
                f"Every source must be an hf://buckets URI when one is; got {uri!r}. Read local files with "
                "Polars itself and concatenate."
            )
        found, base, is_dir = _list_one(hub, os.fspath(uri), fmt, glob=glob, hidden=hidden)
        files.extend(found)
        bases.append(base)
        directory = directory or is_dir
    base = os.path.commonpath(bases) + "/" if len(bases) > 1 else bases[0]
    return _Sources(tuple(files), base, directory and len(uris) == 1)


def _list_one(hub: HubClient, uri: str, fmt: str, *, glob: bool, hidden: Sequence[str]) -> tuple[list[RemoteEntry], str, bool]:
    target = BucketPath.parse(uri, kind="any")
    bucket = target.bucket_id
    match = _GLOB_CHARS.search(target.path) if glob else None
    if match is not None:
        prefix = target.path[: target.path.rfind("/", 0, match.start()) + 1]
        regex = _glob_regex(target.path)
        entries = [e for e in _files_under(hub, bucket, prefix) if regex.match(e.path)]
        if not entries:
            raise BucketFileNotFoundError(
                f"No file in bucket {bucket!r} matches {uri!r}. List what is there with "
                f"`hf buckets ls {BUCKET_URI_PREFIX}{bucket}/{prefix}` and fix the pattern."
            )
        return sorted(entries, key=lambda e: e.path), f"{bucket}/{prefix}", True
    if not target.is_dir:
        exact = hub.paths_info(bucket, [target.path])
        if exact:
            entry = RemoteEntry.from_listing(bucket, exact[0])
            return [entry], f"{bucket}/{target.path.rsplit('/', 1)[0] + '/' if '/' in target.path else ''}", False
    prefix = target.path if target.is_dir else target.path + "/"
    committed = _manifest_entries(hub, bucket, prefix)
    if committed is not None:  # a committed output: exactly its files, at its hashes
        return committed, f"{bucket}/{prefix}", True
    entries = _directory_files(list(_files_under(hub, bucket, prefix)), prefix, fmt, hidden)
    if not entries:
        what = "folder" if target.is_dir else "file or folder"
        raise BucketFileNotFoundError(
            f"The {what} {uri!r} was not found (or holds no {fmt} file). Check the path with "
            f"`hf buckets ls {BUCKET_URI_PREFIX}{bucket}/{prefix.rsplit('/', 2)[0] if '/' in prefix.rstrip('/') else ''}`."
        )
    return entries, f"{bucket}/{prefix}", True


def _manifest_entries(hub: HubClient, bucket_id: str, directory: str) -> list[RemoteEntry] | None:
    """The files a directory's commit point lists (path, size, Xet hash), or None when it has none.

    A committed output is read as exactly the version its manifest names, at the listed hashes,
    even while a new version is being registered under the same paths (docs/commit-protocol.md).
    """
    manifest = read_manifest(hub, bucket_id, directory)
    if manifest is None:
        return None
    return sorted((RemoteEntry(bucket_id, f.path, f.size, f.xet_hash) for f in manifest.files), key=lambda e: e.path)


def _files_under(hub: HubClient, bucket_id: str, prefix: str) -> Iterator[RemoteEntry]:
    for item in hub.list_tree(bucket_id, prefix, recursive=True):
        if item.get("type", "file") == "file":
            yield RemoteEntry.from_listing(bucket_id, item)


def _directory_files(entries: list[RemoteEntry], prefix: str, fmt: str, hidden: Sequence[str]) -> list[RemoteEntry]:
    """A folder's data files: hidden names (``_manifest.json``, ``.tmp``) skipped at any depth,
    and only the format's extensions when the folder has any (so a README does not break a scan)."""
    visible = [e for e in entries if not any(_is_hidden(part, hidden) for part in e.path[len(prefix) :].split("/"))]
    typed = [e for e in visible if e.path.lower().endswith(_EXTENSIONS[fmt])]
    return sorted(typed or visible, key=lambda e: e.path)


# --- hive partitions ----------------------------------------------------------------------------


def _hive_values(entry: RemoteEntry, base: str) -> dict[str, str]:
    relative = f"{entry.bucket_id}/{entry.path}"[len(base) :]
    return dict(part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part)


def _infer_hive_type(values: Sequence[str], try_dates: bool) -> pl.DataType:
    """Polars' own inference on the key's values: integer, then float, then (optionally) date, else string."""
    for dtype in (pl.Int64, pl.Float64):
        try:
            pl.Series(values).cast(dtype, strict=True)
            return dtype()
        except pl.exceptions.InvalidOperationError:
            continue
    if try_dates:
        try:
            [date.fromisoformat(v) for v in values]
            return pl.Date()
        except ValueError:
            pass
    return pl.String()


def _hive_schema(files: Sequence[RemoteEntry], base: str, given: Mapping[str, Any] | None, try_dates: bool) -> pl.Schema:
    keys: dict[str, list[str]] = {}
    for entry in files:
        for key, value in _hive_values(entry, base).items():
            keys.setdefault(key, []).append(value)
    given = dict(given or {})
    return pl.Schema({k: given.get(k) or _infer_hive_type(v, try_dates) for k, v in keys.items()})


# --- options ------------------------------------------------------------------------------------


# hive options every bucket scan takes, also for CSV / NDJSON whose Polars readers lack them
_HIVE_OPTIONS = ("hive_partitioning", "hive_schema", "try_parse_hive_dates")


def _check_options(
    method: Callable[..., Any], given: Mapping[str, Any], supported: set[str] | None, what: str, extra: Sequence[str] = ()
) -> None:
    params = inspect.signature(method).parameters
    accepted = [p for p in params if not p.startswith("_") and p not in _OWNED and (supported is None or p in supported)]
    accepted += [p for p in extra if p not in accepted]
    unknown = sorted(k for k in given if k not in accepted)
    if "credential_provider" in given and given["credential_provider"] not in (None, "auto"):
        unknown.append("credential_provider")
    if unknown:
        raise InvalidOptionError(
            f"{what} got option(s) {', '.join(map(repr, unknown))} that a bucket source does not support. "
            f"Accepted: {', '.join(accepted)} (and storage_options={{'token', 'endpoint'}})."
        )


# --- Parquet: range reads through a pyarrow dataset ---------------------------------------------


def _arrow_filesystem(
    entries: Sequence[RemoteEntry], transport: RangeTransport, prefetched: RangeStore | None = None, blocks: BlockCache | None = None
) -> Any:
    """A read-only pyarrow filesystem over the listed files (paths are ``bucket_id/path``)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    by_path = {f"{e.bucket_id}/{e.path}": e for e in entries}
    blocks = blocks if blocks is not None else BlockCache()  # footers read while building the dataset are reused by the scan

    class _BucketHandler(pafs.FileSystemHandler):  # type: ignore[misc]
        def get_type_name(self) -> str:
            return "hf-buckets"

        def normalize_path(self, path: str) -> str:
            return path

        def get_file_info(self, paths: list[str]) -> list[Any]:
            return [
                pafs.FileInfo(p, pafs.FileType.File, size=by_path[p].size) if p in by_path else pafs.FileInfo(p, pafs.FileType.NotFound)
                for p in paths
            ]

        def open_input_file(self, path: str) -> Any:
            return pa.PythonFile(RemoteFile(by_path[path], transport, blocks, prefetched), mode="r")

        def open_input_stream(self, path: str) -> Any:
            return self.open_input_file(path)

        def _read_only(self, *args: Any, **kwargs: Any) -> Any:
            raise pa.ArrowNotImplementedError("hf://buckets scans are read-only")

        get_file_info_selector = create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
        delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only

    return pafs.PyFileSystem(_BucketHandler())


def _parquet_plan(sources: _Sources, transport: RangeTransport, options: dict[str, Any]) -> _Plan:
    import pyarrow.dataset as ds

    hive = options.pop("hive_partitioning", None)
    hive = sources.is_directory if hive is None else bool(hive)
    hive_schema = options.pop("hive_schema", None)
    partitioning = None
    keys = pl.Schema()
    if hive:
        keys = _hive_schema(sources.files, sources.base, hive_schema, bool(options.pop("try_parse_hive_dates", True)))
        if len(keys):
            partitioning = ds.partitioning(pl.DataFrame(schema=keys).to_arrow().schema, flavor="hive")
    file_schema = options.pop("schema", None)
    # a given schema names the files' columns; hive keys come after them, as in Polars
    dataset_schema = pl.Schema({**pl.Schema(file_schema), **{k: v for k, v in keys.items() if k not in pl.Schema(file_schema)}}) if file_schema else None
    drift = {k: options.pop(k) for k in ("missing_columns", "extra_columns", "cast_options") if k in options}
    paths_column = options.pop("include_file_paths", None)
    prefetched = RangeStore()
    blocks = BlockCache()
    with _arrow_errors(sources):
        dataset = _dataset(sources, transport, partitioning, dataset_schema, prefetched, blocks)
    return _row_group_plan(
        dataset, sources, lambda entry: RemoteFile(entry, transport, blocks), prefetched, check=_DriftCheck(dataset, file_schema, drift), paths_column=paths_column
    )


@contextlib.contextmanager
def _arrow_errors(sources: _Sources) -> Iterator[None]:
    """pyarrow's complaints about a file's bytes as the project's typed error (ours pass through)."""
    import pyarrow as pa

    try:
        yield
    except pa.ArrowException as exc:
        raise InvalidFileError(
            f"A file under {BUCKET_URI_PREFIX}{sources.base} could not be read as Parquet: {exc}. Nothing was "
            "changed in the bucket. Narrow the source to the Parquet files (e.g. a '*.parquet' glob)."
        ) from exc


def _dataset(
    sources: _Sources, transport: RangeTransport, partitioning: Any, dataset_schema: pl.Schema | None,
    prefetched: RangeStore | None = None, blocks: BlockCache | None = None,
) -> Any:
    import pyarrow.dataset as ds

    return ds.dataset(
        [f"{e.bucket_id}/{e.path}" for e in sources.files],
        filesystem=_arrow_filesystem(sources.files, transport, prefetched, blocks),
        format=ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True)),
        partitioning=partitioning,
        partition_base_dir=sources.base.rstrip("/"),
        schema=pl.DataFrame(schema=dataset_schema).to_arrow().schema if dataset_schema else None,
    )


class _DriftCheck:
    """Raise what Polars raises on the same files for missing / extra columns and type changes.

    Polars is the judge: the first file's schema and each file's schema (from their footers, which the
    read needs anyway) are written as empty Parquet files in memory, and Polars' own ``scan_parquet`` of
    the pair, with the user's ``schema`` / ``missing_columns`` / ``extra_columns`` / ``cast_options``,
    raises its own exception (``ColumnNotFoundError``, ``SchemaError``) with its own message, or
    passes. Files are checked as they are read, so hive partitions pruned away cost no footer read.
    The read aligns every file to the first one's (or the given) schema as Polars does: pyarrow's
    dataset fills missing columns with nulls, drops extra ones and casts to the target type."""

    def __init__(self, dataset: Any, given: Any, options: Mapping[str, Any]) -> None:
        self.dataset = dataset
        self.given = given
        self.options = dict(options)
        self._first: io.BytesIO | None = None

    @staticmethod
    def _empty(fragment: Any) -> bytes:
        import pyarrow.parquet as pq

        import pyarrow as pa

        # one row of nulls, not an empty table: Polars does not check the schema of a file without rows
        # nullable fields: a non-nullable column would refuse the row of nulls (Polars ignores nullability)
        schema = pa.schema([f.with_nullable(True) for f in fragment.physical_schema])
        out = io.BytesIO()
        pq.write_table(pa.table([pa.nulls(1, f.type) for f in schema], schema=schema), out)
        return out.getvalue()

    def __call__(self, fragment: Any) -> None:
        if self._first is None:
            first = next(iter(self.dataset.get_fragments()))
            self._first = io.BytesIO(self._empty(first))
            if first.path == fragment.path and self.given is None:
                return
        sources = [io.BytesIO(self._first.getvalue()), io.BytesIO(self._empty(fragment))]
        if self.given is not None:
            sources = sources[1:]
        _polars_reader("scan_parquet")(sources, schema=self.given, hive_partitioning=False, **self.options).collect()


# Polars comparison operators (as named in a serialized expression) and their pyarrow twins;
# the second name is the operator with its sides swapped (``2 > x`` is ``x < 2``).
_COMPARISONS = {
    "Eq": ("__eq__", "Eq"), "NotEq": ("__ne__", "NotEq"), "Lt": ("__lt__", "Gt"),
    "LtEq": ("__le__", "GtEq"), "Gt": ("__gt__", "Lt"), "GtEq": ("__ge__", "LtEq"),
}


def _arrow_filter(predicate: pl.Expr, names: set[str]) -> Any:
    """A pyarrow expression implied by ``predicate`` (for row-group and partition pruning only), or None.

    Understands ``col <op> literal`` (either way round) and ``&`` of them; an ``&`` keeps the parts it
    understands, which is weaker and so still safe. Anything else gives None: read everything."""
    import json

    import pyarrow.dataset as ds

    try:
        node = json.loads(predicate.meta.serialize(format="json"))
        binary = node.get("BinaryExpr") if isinstance(node, dict) else None
        if not binary:
            return None
        op = binary["op"]
        inputs = predicate.meta.pop()
        if op == "And":
            parts = [p for p in (_arrow_filter(e, names) for e in inputs) if p is not None]
            if not parts:
                return None
            out = parts[0]
            for part in parts[1:]:
                out = out & part
            return out
        if op not in _COMPARISONS or len(inputs) != 2:
            return None
        left_is_column = "Column" in binary["left"]
        right_is_column = "Column" in binary["right"]
        if left_is_column == right_is_column or ("Literal" not in binary["left"] and "Literal" not in binary["right"]):
            return None
        column = next(e for e in inputs if e.meta.is_column())
        literal = next(e for e in inputs if not e.meta.is_column())
        name = column.meta.output_name()
        value = pl.select(literal).item()
        if name not in names or value is None:
            return None
        method = _COMPARISONS[op][0] if left_is_column else _COMPARISONS[_COMPARISONS[op][1]][0]
        return getattr(ds.field(name), method)(value)
    except Exception:  # an expression shape this does not know: no pruning, Polars still filters
        return None


#: reading units (runs of row groups, see :func:`_fragments`) in flight in a Parquet scan
_READ_AHEAD = 4
#: concurrent range requests fetching the column chunks of the units in flight
_FETCHES = 8
#: column chunks closer than this are fetched in one request (the hole costs less than a round trip)
_HOLE = 256 * 1024


def _row_group_plan(
    dataset: Any, sources: _Sources, open_file: Callable[[RemoteEntry], RemoteFile], prefetched: RangeStore, *,
    check: Callable[[Any], None] = lambda fragment: None, paths_column: str | None = None,
) -> _Plan:
    """A Polars IO source reading one row group at a time, so memory stays bounded by a row group.

    pyarrow's ``Dataset.to_batches`` reads ahead whole files and row groups across all columns
    (4 GB peak on a 1.2 GB full-width file); here each row group is read alone. Row groups and hive
    partitions whose statistics cannot match are skipped; the Polars predicate is applied to every
    batch regardless, so pruning only saves reads."""
    import pyarrow as pa

    empty = pl.from_arrow(dataset.schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    schema = empty.schema
    names = set(schema.names())
    entries = {f"{e.bucket_id}/{e.path}": e for e in sources.files}
    # Polars puts the file path column last (after hive keys), a String
    full_schema = pl.Schema({**schema, paths_column: pl.String()}) if paths_column else schema
    # with a predicate, view types are read as large ones: Arrow's filter has no kernel for views,
    # and Polars converts either. Without one, views stay views (Polars takes them as they are; the
    # cast cost a third of a 2-column aggregate of TPC-H lineitem)
    filter_schema = dataset.schema
    for i, field in enumerate(filter_schema):
        if field.type in (pa.string_view(), pa.binary_view()):
            wide = pa.large_string() if field.type == pa.string_view() else pa.large_binary()
            filter_schema = filter_schema.set(i, field.with_type(wide))

    def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        wanted = list(with_columns) if with_columns is not None else full_schema.names()
        late = None  # a predicate on the file path column runs after the column is added
        if predicate is not None and paths_column is not None and paths_column in predicate.meta.root_names():
            late, predicate = predicate, None
        with_path = paths_column is not None and (paths_column in wanted or late is not None)
        wanted = [n for n in wanted if n != paths_column]
        needed = set(wanted) | (set(predicate.meta.root_names()) if predicate is not None else set()) | (set(late.meta.root_names()) - {paths_column} if late is not None else set())
        columns = [n for n in schema.names() if n in needed]
        arrow_filter = _arrow_filter(predicate, names) if predicate is not None else None
        predicate_columns = [n for n in columns if predicate is not None and n in predicate.meta.root_names()]
        def read_group(fragment: Any) -> list[pl.DataFrame]:
            frames = []
            for batch in fragment.to_batches(
                schema=filter_schema if predicate is not None else dataset.schema, columns=columns, batch_size=batch_size or 64 * 1024, batch_readahead=1, fragment_readahead=1,
            ):
                if batch.num_rows == 0:
                    continue
                if predicate is not None:
                    # filter in Arrow with the Polars predicate's mask: Polars' own filter would keep
                    # views into the whole batch's string buffers alive (GBs on a full-width scan)
                    keys = pl.from_arrow(batch.select(predicate_columns))
                    assert isinstance(keys, pl.DataFrame)
                    mask = keys.select(predicate).to_series()
                    if mask.len() == 1 and batch.num_rows != 1:  # a predicate without columns
                        if not mask[0]:
                            continue
                    else:
                        batch = batch.filter(mask.to_arrow())
                        if batch.num_rows == 0:
                            continue
                df = pl.from_arrow(batch.select(sorted(needed if late is not None else wanted, key=full_schema.names().index)))
                assert isinstance(df, pl.DataFrame)
                if with_path:
                    df = df.with_columns(pl.lit(BUCKET_URI_PREFIX + fragment.path, dtype=pl.String).alias(paths_column))
                if late is not None:
                    df = df.filter(late)
                df = df.select([n for n in (with_columns if with_columns is not None else full_schema.names())])
                if df.height:
                    frames.append(df)
            return frames

        def fetch(entry: RemoteEntry, start: int, end: int) -> None:
            # through a RemoteFile: a range inside the footer block already read costs nothing
            prefetched.put(entry.uri, start, open_file(entry).read_at(end - start, start))

        def read_unit(unit: _Unit, fetches: list[Future[None]]) -> list[pl.DataFrame]:
            try:
                for done in fetches:
                    done.result()  # a failed fetch raises its typed error here
                return read_group(unit.fragment)
            finally:
                for done in fetches:
                    done.cancel()
                prefetched.drop(unit.entry.uri, [start for start, _ in unit.ranges])

        remaining = n_rows
        if remaining is not None and remaining <= 0:
            return
        # _READ_AHEAD units in flight; their column chunks are fetched by _FETCHES concurrent requests
        # while earlier units decode (a scan of small column chunks is bound by round trips): memory
        # is about _READ_AHEAD units, compressed and decoded
        pool = ThreadPoolExecutor(max_workers=_READ_AHEAD, thread_name_prefix="hf-bucket-scan")
        fetchers = ThreadPoolExecutor(max_workers=_FETCHES, thread_name_prefix="hf-bucket-fetch")
        pending: deque[Future[list[pl.DataFrame]]] = deque()
        units = _fragments(dataset, arrow_filter, check, columns, entries)
        try:
            with _arrow_errors(sources):
                while True:
                    while len(pending) < _READ_AHEAD:
                        unit = next(units, None)
                        if unit is None:
                            break
                        fetches = [fetchers.submit(fetch, unit.entry, start, end) for start, end in unit.ranges]
                        pending.append(pool.submit(read_unit, unit, fetches))
                    if not pending:
                        return
                    for df in pending.popleft().result():
                        if remaining is not None:
                            df = df.head(remaining)
                            remaining -= df.height
                        if df.height:
                            yield df
                        if remaining is not None and remaining <= 0:
                            return
        finally:
            # no thread outlives the scan: queued work is cancelled, running requests finish (they time out)
            fetchers.shutdown(wait=True, cancel_futures=True)
            pool.shutdown(wait=True, cancel_futures=True)

    return _Plan(lambda: full_schema, source)


@dataclass(frozen=True, slots=True)
class _Unit:
    """Consecutive row groups of one file read as one fragment, and the byte ranges of their needed
    column chunks (fetched ahead, concurrently, before the fragment decodes them)."""

    fragment: Any
    entry: RemoteEntry
    ranges: list[tuple[int, int]]


def _fragments(
    dataset: Any, arrow_filter: Any, check: Callable[[Any], None], columns: Sequence[str], entries: Mapping[str, RemoteEntry]
) -> Iterator[_Unit]:
    """The dataset's row groups that ``arrow_filter`` cannot rule out, in reading units: runs of
    consecutive row groups of one file whose decoded ``columns`` come to about :data:`_UNIT_BYTES`
    (at least one row group, so a full-width scan still reads one row group at a time)."""
    if arrow_filter is not None:
        try:
            files = list(dataset.get_fragments(filter=arrow_filter))
        except Exception:  # e.g. a literal pyarrow cannot compare with the column's type
            arrow_filter = None
    if arrow_filter is None:
        files = list(dataset.get_fragments())
    wanted = set(columns)
    for fragment in files:
        check(fragment)
        try:
            groups = fragment.split_by_row_group(filter=arrow_filter, schema=dataset.schema) if arrow_filter is not None else None
        except Exception:
            groups = None
        if groups is None:
            groups = fragment.split_by_row_group(schema=dataset.schema)
        if not groups:
            continue
        entry = entries[fragment.path]
        # a scan of one fragment costs ~3 ms of pyarrow set-up whatever its size: 262 one-row-group
        # scans of a 2-column query cost more than decoding it (docs/benchmarks-read.md)
        metadata = groups[0].metadata
        unit: list[int] = []
        ranges: list[tuple[int, int]] = []
        held = 0
        for group in groups:
            index = group.row_groups[0].id
            row_group = metadata.row_group(index)
            size = _decoded_size(row_group, wanted, dataset.schema)
            if unit and held + size > _UNIT_BYTES:
                yield _Unit(fragment.subset(row_group_ids=unit, schema=dataset.schema), entry, coalesce(ranges, _HOLE))
                unit, ranges, held = [], [], 0
            unit.append(index)
            ranges += _chunk_ranges(row_group, wanted, entry.size)
            held += size
        yield _Unit(fragment.subset(row_group_ids=unit, schema=dataset.schema), entry, coalesce(ranges, _HOLE))


def _chunk_ranges(row_group: Any, wanted: set[str], file_size: int) -> list[tuple[int, int]]:
    """Byte ranges of the column chunks of ``wanted`` columns (from the dictionary page on)."""
    out = []
    for i in range(row_group.num_columns):
        chunk = row_group.column(i)
        if chunk.path_in_schema.split(".", 1)[0] not in wanted:
            continue
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
            start = chunk.dictionary_page_offset
        out.append((start, min(start + chunk.total_compressed_size, file_size)))
    return out


#: decoded bytes of the needed columns a reading unit aims at (memory held is about
#: ``_READ_AHEAD`` such units); one row group of a 16-column TPC-H lineitem is ~20 MB decoded
_UNIT_BYTES = 32 * 1024 * 1024


def _byte_width(dtype: Any) -> int:
    """Bytes per value of a fixed-width Arrow type (booleans count as one), 0 for variable width."""
    try:
        return max(int(dtype.bit_width) // 8, 1)
    except ValueError:  # strings, lists, structs: no fixed width
        return 0


def _decoded_size(row_group: Any, wanted: set[str], schema: Any) -> int:
    """An estimate of ``columns`` of ``row_group`` once decoded: fixed-width types by their width,
    variable-width ones by their uncompressed bytes plus offsets (dictionaries decode to values)."""
    rows = row_group.num_rows
    total = 0
    for i in range(row_group.num_columns):
        chunk = row_group.column(i)
        name = chunk.path_in_schema.split(".", 1)[0]
        if name not in wanted:
            continue
        width = _byte_width(schema.field(name).type) if schema.get_field_index(name) >= 0 else 0
        total += rows * width if width else chunk.total_uncompressed_size + 8 * rows
    return max(total, 1)


def _apply_row_options(lf: pl.LazyFrame, options: dict[str, Any]) -> pl.LazyFrame:
    """``n_rows`` and ``row_index_*`` as lazy steps (Polars pushes the slice into the scan)."""
    n_rows = options.pop("n_rows", None)
    if n_rows is not None:
        lf = lf.head(n_rows)
    name = options.pop("row_index_name", None)
    offset = options.pop("row_index_offset", 0)
    if name is not None:
        lf = lf.with_row_index(name, offset=offset)
    return lf


# Polars' scan_parquet options honoured on bucket sources; the rest tune local/object-store I/O
# and are accepted and ignored (parallel, low_memory, cache, use_statistics: pyarrow always uses them).
_PARQUET_OPTIONS = {
    "n_rows", "row_index_name", "row_index_offset", "parallel", "use_statistics", "hive_partitioning", "glob",
    "hidden_file_prefix", "schema", "hive_schema", "try_parse_hive_dates", "low_memory", "cache",
    "include_file_paths", "missing_columns", "extra_columns", "cast_options",
}


# --- CSV / NDJSON / IPC: whole files through hf_xet, read by Polars ------------------------------


class _LocalCopies:
    """Whole-file copies in a private temporary folder, fetched once, deleted with the last plan using them."""

    def __init__(self, sources: _Sources, transport: XetRanges) -> None:
        self.sources = sources
        self.transport = transport
        self._lock = threading.Lock()
        self._root: str | None = None
        self._paths: list[str] = []

    def paths(self) -> list[str]:
        with self._lock:
            if self._root is None:
                root = tempfile.mkdtemp(prefix="hf-bucket-scan-")
                # from here on the folder is removed with this object, even if a download fails
                weakref.finalize(self, shutil.rmtree, root, True)
                base = self.sources.base
                for entry in self.sources.files:
                    # keep the folder layout under the base, so Polars parses the same hive keys
                    local = os.path.join(root, *f"{entry.bucket_id}/{entry.path}"[len(base) :].split("/"))
                    os.makedirs(os.path.dirname(local), exist_ok=True)
                    self.transport.download_to(entry, local)
                    self._paths.append(local)
                self._root = root
            return list(self._paths)

    @property
    def root(self) -> str:
        self.paths()
        assert self._root is not None
        return self._root


def _local_plan(sources: _Sources, transport: XetRanges, reader: Callable[..., pl.LazyFrame], options: dict[str, Any]) -> _Plan:
    copies = _LocalCopies(sources, transport)
    options.pop("glob", None)  # the file list is explicit
    options.pop("hidden_file_prefix", None)
    hive = options.pop("hive_partitioning", None)
    hive = sources.is_directory if hive is None else bool(hive)
    hive_schema = _hive_schema(sources.files, sources.base, options.pop("hive_schema", None), bool(options.pop("try_parse_hive_dates", True)))
    paths_column = options.get("include_file_paths")

    def native() -> pl.LazyFrame:
        paths = copies.paths()
        if hive and len(hive_schema):
            # pl.scan_csv / scan_ndjson have no hive support: add the keys per file, as Polars does for Parquet
            lf = pl.concat(
                [
                    reader(path, **options).with_columns(
                        pl.lit(_hive_values(entry, sources.base).get(key), dtype=pl.String).cast(dtype).alias(key)
                        for key, dtype in hive_schema.items()
                    )
                    for path, entry in zip(paths, sources.files, strict=True)
                ],
                how="vertical_relaxed",
            )
        else:
            lf = reader(paths, **options)
        if paths_column is not None:  # show bucket URIs, not the private copies
            lf = lf.with_columns(
                pl.col(paths_column).str.replace(copies.root + os.sep, BUCKET_URI_PREFIX + sources.base, literal=True)
            )
        return lf

    def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        lf = native()
        if predicate is not None:
            lf = lf.filter(predicate)
        if with_columns is not None:
            lf = lf.select(with_columns)
        if n_rows is not None:
            lf = lf.head(n_rows)
        yield from lf.collect_batches(chunk_size=batch_size)

    return _Plan(lambda: native().collect_schema(), source)


# --- CSV / NDJSON: streamed from Xet, parsed piece by piece -----------------------------------------


def _stream_plan(sources: _Sources, transport: RangeTransport, fmt: str, options: dict[str, Any]) -> _Plan:
    from hf_bucket_sink.polars import text_stream as ts

    options.pop("glob", None)
    options.pop("hidden_file_prefix", None)
    options.pop("low_memory", None)
    hive = options.pop("hive_partitioning", None)
    hive = sources.is_directory if hive is None else bool(hive)
    keys = _hive_schema(sources.files, sources.base, options.pop("hive_schema", None), bool(options.pop("try_parse_hive_dates", True)))
    keys = keys if hive else pl.Schema()
    paths_column = options.pop("include_file_paths", None)
    quote = None
    eol = b"\n"
    if fmt == "csv":
        q = options.get("quote_char", '"')
        quote = q.encode() if q else None
        eol = str(options.get("eol_char", "\n")).encode()

    def pieces(entry: RemoteEntry) -> Iterator[bytes]:
        return ts.records(ts.decompressed(windows(transport, entry), ts.compression_of(entry.path)), quote=quote, eol=eol)

    first: dict[str, Any] = {}

    def file_schema() -> pl.Schema:
        if "schema" in options and options["schema"] is not None:
            return pl.Schema(options["schema"])
        if "schema" not in first:
            stream = pieces(sources.files[0])
            try:
                head = next(stream, b"")
            finally:
                stream.close()  # type: ignore[attr-defined]
            with _parse_errors(sources.files[0], fmt):
                first["schema"] = ts.infer_schema(fmt, head, options)
        return first["schema"]  # type: ignore[no-any-return]

    def schema() -> pl.Schema:
        out = dict(file_schema())
        out.update((k, v) for k, v in keys.items() if k not in out)
        if paths_column:
            out[paths_column] = pl.String()
        return pl.Schema(out)

    def batches(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        return ts.pushed_down(frames(), predicate, with_columns, n_rows)

    def frames() -> Iterator[pl.DataFrame]:
        parsed = file_schema()
        for entry in sources.files:
            values = _hive_values(entry, sources.base)
            stream = pieces(entry)
            try:
                for i, piece in enumerate(stream):
                    with _parse_errors(entry, fmt):
                        df = ts.parse_piece(fmt, piece, parsed, options, continuation=i > 0)
                    yield _with_source_columns(df, entry, values, keys, parsed, paths_column)
            finally:
                stream.close()  # type: ignore[attr-defined]

    return _Plan(schema, batches)


@contextlib.contextmanager
def _parse_errors(entry: RemoteEntry, fmt: str) -> Iterator[None]:
    """Polars' parse failure of a streamed piece (``ComputeError``: not CSV / NDJSON, or malformed)
    as the project's typed error naming the file; Polars' schema answers pass through."""
    try:
        yield
    except pl.exceptions.ComputeError as exc:
        name = "NDJSON" if fmt == "ndjson" else fmt.upper()
        raise InvalidFileError(
            f"{entry.uri} could not be read as {name}: {exc}. Nothing was changed in the bucket. Narrow the "
            f"source to the {name} files (e.g. a '*.{fmt}' glob), or fix the file."
        ) from exc


def _with_source_columns(
    df: pl.DataFrame, entry: RemoteEntry, values: dict[str, str], keys: pl.Schema, present: Any, paths_column: str | None
) -> pl.DataFrame:
    """A file's frame with the columns that come from where it lives: hive keys it lacks, its URI."""
    extra = [pl.lit(values.get(k), dtype=pl.String).cast(t).alias(k) for k, t in keys.items() if k not in present]
    if paths_column:
        extra.append(pl.lit(entry.uri, dtype=pl.String).alias(paths_column))
    return df.with_columns(extra) if extra else df


# --- IPC: the footer, then one record batch at a time, by range ----------------------------------

#: scan_ipc options the range reader honours; others take the whole-file copy
_IPC_RANGE_OPTIONS = {"glob", "hidden_file_prefix", "hive_partitioning", "hive_schema", "try_parse_hive_dates", "include_file_paths", "cache", "rechunk"}


def _ipc_plan(sources: _Sources, transport: RangeTransport, options: dict[str, Any]) -> _Plan:
    """Arrow IPC files read through their footer: pyarrow's file reader over :class:`RemoteFile`
    fetches the footer, then each record batch's byte range; memory is one record batch."""
    import pyarrow.ipc as ipc

    from hf_bucket_sink.polars import text_stream as ts

    hive = options.pop("hive_partitioning", None)
    hive = sources.is_directory if hive is None else bool(hive)
    keys = _hive_schema(sources.files, sources.base, options.pop("hive_schema", None), bool(options.pop("try_parse_hive_dates", True)))
    keys = keys if hive else pl.Schema()
    paths_column = options.pop("include_file_paths", None)
    blocks = BlockCache()

    def open_reader(entry: RemoteEntry) -> Any:
        with _arrow_errors(sources):
            return ipc.open_file(RemoteFile(entry, transport, blocks))

    first = open_reader(sources.files[0])
    empty = pl.from_arrow(first.schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    file_schema = empty.schema
    full = dict(file_schema)
    full.update((k, v) for k, v in keys.items() if k not in full)
    if paths_column:
        full[paths_column] = pl.String()
    schema = pl.Schema(full)

    def batches(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        return ts.pushed_down(frames(), predicate, with_columns, n_rows)

    def frames() -> Iterator[pl.DataFrame]:
        for entry in sources.files:
            reader = open_reader(entry) if entry is not sources.files[0] else first
            values = _hive_values(entry, sources.base)
            for i in range(reader.num_record_batches):
                with _arrow_errors(sources):
                    batch = reader.get_batch(i)
                df = pl.from_arrow(batch)
                assert isinstance(df, pl.DataFrame)
                yield _with_source_columns(df, entry, values, keys, file_schema, paths_column)

    return _Plan(lambda: schema, batches)


# --- public functions ---------------------------------------------------------------------------


def _streamable(fmt: str, options: Mapping[str, Any], paths: Sequence[str]) -> bool:
    from hf_bucket_sink.polars.text_stream import streamable

    return streamable(fmt, options, paths)


def _polars_reader(name: str) -> Callable[..., Any]:
    """Polars' own ``pl.<name>``, also after :func:`hf_bucket_sink.install` wrapped it."""
    function = getattr(pl, name)
    return getattr(function, "__hf_bucket_sink_original__", function)  # type: ignore[no-any-return]


_Batches = Callable[[list[str] | None, pl.Expr | None, int | None, int | None], Iterator[pl.DataFrame]]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One resolution of a scan: the listed files' schema and a reader of their batches."""

    schema: Callable[[], pl.Schema]
    batches: _Batches


class _LazyScan:
    """Everything that touches the network, done when Polars runs the query, as its own scans do.

    Polars asks for the schema once per ``collect`` / ``sink_*`` / ``explain`` and then reads the
    batches, so the listing (and the footers, and the credential check) happen at that moment: a scan
    built before its files exist works once they do, and a scan collected twice sees new files.
    The batches of a collect read exactly the files (at the Xet hashes) its schema was taken from.
    """

    def __init__(self, source: Any, fmt: str, storage_options: Mapping[str, Any] | None, options: dict[str, Any]) -> None:
        self.source = source
        self.fmt = fmt
        self.storage_options = dict(storage_options) if storage_options is not None else None
        self.options = options
        self._lock = threading.Lock()
        self._pending: _Plan | None = None

    def resolve(self) -> _Plan:
        options = dict(self.options)
        hub = HubClient(resolve_credentials(self.storage_options))
        hidden = options.get("hidden_file_prefix") or (".", "_")
        hidden = (hidden,) if isinstance(hidden, str) else tuple(hidden)
        sources = list_sources(hub, self.source, self.fmt, glob=bool(options.get("glob", True)), hidden=hidden)
        logger.info("scanning %d %s file(s) under %s%s", len(sources.files), self.fmt, BUCKET_URI_PREFIX, sources.base)
        if self.fmt == "parquet":
            options.pop("glob", None)
            options.pop("hidden_file_prefix", None)
            for ignored in ("parallel", "use_statistics", "low_memory", "cache"):
                options.pop(ignored, None)
            return _parquet_plan(sources, ResolveRanges(hub), options)
        if self.fmt == "ipc" and not set(options) - _IPC_RANGE_OPTIONS:
            return _ipc_plan(sources, ResolveRanges(hub), options)
        if self.fmt in ("csv", "ndjson") and _streamable(self.fmt, options, [e.path for e in sources.files]):
            return _stream_plan(sources, ResolveRanges(hub), self.fmt, options)
        return _local_plan(sources, XetRanges(hub), _polars_reader(f"scan_{self.fmt}"), options)

    def schema(self) -> pl.Schema:
        try:
            plan = self.resolve()
            schema = plan.schema()
        except Exception as exc:
            _remember_planning_error(exc)
            raise
        with self._lock:
            self._pending = plan
        return schema

    def batches(self, with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
        with self._lock:
            plan, self._pending = self._pending, None
        if plan is None:  # Polars took the schema from the user's ``schema=`` or an earlier call
            plan = self.resolve()
        yield from plan.batches(with_columns, predicate, n_rows, batch_size)


# --- errors found while Polars plans: the cause's class, not Polars' wrapper ---------------------

#: what Polars 2.1 puts before an exception an IO plugin's schema callable raised, in the
#: ``ComputeError`` it raises instead (the class and the object are lost, only the text is kept)
_PLANNING_PREFIX = "schema callable failed: "
#: LazyFrame methods that plan a query; each gives back the scan's own exception (see below)
_PLANNING_METHODS = ("collect", "collect_schema", "explain", "profile", "collect_batches")
_planning_errors: deque[tuple[str, BaseException]] = deque(maxlen=64)
_planning_lock = threading.Lock()


def _remember_planning_error(exc: BaseException) -> None:
    with _planning_lock:
        _planning_errors.append((f"{type(exc).__name__}: {exc}", exc))


def _planning_cause(err: BaseException) -> BaseException | None:
    """The exception a bucket scan raised while Polars planned, if ``err`` is Polars' wrapper of it."""
    text = str(err)
    at = text.find(_PLANNING_PREFIX)
    if at < 0:
        return None
    rest = text[at + len(_PLANNING_PREFIX) :]
    with _planning_lock:
        for i in range(len(_planning_errors) - 1, -1, -1):
            key, exc = _planning_errors[i]
            if rest.startswith(key):
                del _planning_errors[i]
                return exc
    return None


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(method)
    def planned(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except pl.exceptions.ComputeError as err:
            cause = _planning_cause(err)
            if cause is None:
                raise
            raise cause.with_traceback(None) from err

    planned.__hf_bucket_sink_planning__ = True  # type: ignore[attr-defined]
    return planned


def _typed_planning_errors() -> None:
    """Make a bucket read failure found while Polars plans (missing file, bad token, Hub down) arrive
    as its own class at ``collect()`` / ``collect_schema()`` / ``explain()`` / ``profile()`` /
    ``collect_batches()`` / ``pl.collect_all``, as a Polars user expects the class of the cause.

    Polars 2.1 wraps whatever an IO plugin's schema callable raises into a ``ComputeError`` with the
    text only. The scan remembers what it raised; these methods, wrapped once (idempotent), re-raise
    that exception (the ``ComputeError`` as its ``__cause__``). Any other error passes untouched;
    ``sink_*`` to local files still see the wrapped form (``install()`` owns those methods)."""
    with _planning_lock:
        for owner, names in ((pl.LazyFrame, _PLANNING_METHODS), (pl, ("collect_all",))):
            for name in names:
                method = getattr(owner, name, None)
                if method is not None and not getattr(method, "__hf_bucket_sink_planning__", False):
                    setattr(owner, name, _translating(method))


def _static_schema(fmt: str, options: Mapping[str, Any]) -> pl.Schema | None:
    """The frame's schema when the options fix it without reading anything (so ``explain()`` needs no
    network): ``schema=`` given, and no hive columns to discover (``hive_partitioning=False``)."""
    given = options.get("schema")
    if given is None or options.get("hive_partitioning") is not False or options.get("include_file_paths"):
        return None
    return pl.Schema(given)


def _scan(source: Any, fmt: str, storage_options: Mapping[str, Any] | None, options: dict[str, Any]) -> pl.LazyFrame:
    from polars.io.plugins import register_io_source

    polars_scan = _polars_reader(f"scan_{fmt}")
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if not sources:
        raise InvalidOptionError("The source list is empty: pass at least one hf://buckets/<ns>/<bucket>/<path> URI.")
    for one in sources:  # syntax only: malformed URIs and local paths fail before the query is built
        if not isinstance(one, (str, os.PathLike)) or not is_bucket_uri(one):
            raise InvalidOptionError(
                f"Every source must be an hf://buckets URI when one is; got {one!r}. Read local files with "
                "Polars itself and pl.concat the frames."
            )
        BucketPath.parse(os.fspath(one), kind="any")
    _check_options(polars_scan, options, _PARQUET_OPTIONS if fmt == "parquet" else None, f"scan_{fmt}", _HIVE_OPTIONS)
    options.pop("credential_provider", None)
    # n_rows and the row index apply to the whole scan, as lazy steps Polars pushes into the source
    row_options = {k: options.pop(k) for k in ("n_rows", "row_index_name", "row_index_offset") if k in options}
    lazy = _LazyScan(source, fmt, storage_options, options)
    _typed_planning_errors()
    static = _static_schema(fmt, options)
    lf = register_io_source(
        lazy.batches,
        schema=static if static is not None else lazy.schema,
        explain_name=f"hf-buckets {fmt}",
        explain_detail=f"{BUCKET_URI_PREFIX}{', '.join(map(str, sources))[len(BUCKET_URI_PREFIX):]} (listed when the query runs)",
    )
    return _apply_row_options(lf, row_options)


def scan_parquet(source: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any) -> pl.LazyFrame:
    """Lazily scan Parquet in a bucket: a file, a folder, a glob (``**`` spans folders), or a list.

    >>> lf = scan_parquet("hf://buckets/me/b/data/**/*.parquet", hive_partitioning=True)
    >>> lf.filter(pl.col("k") == 1).select("x").collect()

    Projection and predicates are pushed down: only the footer, the needed column chunks and
    the row groups / hive partitions whose statistics can match are fetched (ranged GETs).
    ``options`` are Polars' ``scan_parquet`` options: ``n_rows``, ``row_index_name``,
    ``row_index_offset``, ``hive_partitioning`` (default: on for a folder), ``hive_schema``,
    ``try_parse_hive_dates``, ``schema``, ``glob``, ``hidden_file_prefix`` (default ``.`` and ``_``),
    ``missing_columns``, ``extra_columns``, ``cast_options``, ``include_file_paths`` (bucket URIs);
    ``parallel``, ``use_statistics``, ``low_memory`` and ``cache`` are accepted and have no effect.
    ``storage_options`` takes ``token`` and ``endpoint`` as for the sinks.

    Raises at once: ``InvalidBucketPathError`` / ``InvalidOptionError`` (ValueError) for a malformed
    URI, a local path in the list, or an option bucket scans do not take. When the query runs:
    ``BucketFileNotFoundError`` for a missing file or an empty glob, ``BucketNotFoundError`` for a
    missing bucket or a private one the token cannot see, ``AuthenticationError`` for a bad token
    (the class itself, also when found while Polars plans; see the module docstring);
    ``FileVersionGoneError`` when a listed version is no longer stored; Polars' own
    ``ColumnNotFoundError`` / ``SchemaError`` on schema drift, as on local files.
    """
    return _scan(source, "parquet", storage_options, options)


def scan_csv(source: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any) -> pl.LazyFrame:
    """Lazily scan CSV in a bucket (file, folder, glob or list) with every ``pl.scan_csv`` option.

    >>> scan_csv("hf://buckets/me/b/flights.csv", try_parse_dates=True).filter(pl.col("dep_delay") > 0)

    Streamed from Xet at the listed hash and parsed piece by piece (``.gz`` and ``.zst`` files too);
    options a piece-wise parse cannot honour exactly are read from a whole-file temporary copy instead.
    Errors as :func:`scan_parquet`.
    """
    return _scan(source, "csv", storage_options, options)


def scan_ndjson(source: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any) -> pl.LazyFrame:
    """Lazily scan newline-delimited JSON in a bucket with every ``pl.scan_ndjson`` option; see :func:`scan_csv`."""
    return _scan(source, "ndjson", storage_options, options)


def scan_ipc(source: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any) -> pl.LazyFrame:
    """Lazily scan Arrow IPC files in a bucket; see :func:`scan_csv`.

    Read through the file's footer and then one record batch at a time by byte range (no copy);
    options other than hive / glob / ``include_file_paths`` / ``n_rows`` / ``row_index_*`` take a
    whole-file temporary copy read by ``pl.scan_ipc``."""
    return _scan(source, "ipc", storage_options, options)


# Eager readers' options about local buffers and threads: meaningless here, accepted and ignored.
_EAGER_ONLY = {"rechunk", "memory_map", "batch_size", "n_threads", "sample_size", "use_pyarrow", "pyarrow_options"}


def _read(
    fmt: str, source: Any, storage_options: Mapping[str, Any] | None, columns: Sequence[str] | Sequence[int] | str | None,
    options: dict[str, Any],
) -> pl.DataFrame:
    for key in _EAGER_ONLY & options.keys():
        value = options.pop(key)
        if key in ("use_pyarrow", "pyarrow_options") and value:
            raise InvalidOptionError(f"read_{fmt} of a bucket source reads with Polars: drop {key}.")
    lf = _scan(source, fmt, storage_options, options)
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        names = lf.collect_schema().names()
        lf = lf.select([names[c] if isinstance(c, int) else c for c in columns])
    return lf.collect()


def read_parquet(
    source: Any, *, columns: Sequence[str] | Sequence[int] | str | None = None,
    storage_options: Mapping[str, Any] | None = None, **options: Any,
) -> pl.DataFrame:
    """Read Parquet from a bucket into a DataFrame: :func:`scan_parquet` plus ``columns``, then collect.

    >>> read_parquet("hf://buckets/me/b/x.parquet", columns=["a"])   # fetches the footer and column a
    """
    return _read("parquet", source, storage_options, columns, options)


def read_csv(
    source: Any, *, columns: Sequence[str] | Sequence[int] | str | None = None,
    storage_options: Mapping[str, Any] | None = None, **options: Any,
) -> pl.DataFrame:
    """Read CSV from a bucket into a DataFrame (``pl.read_csv`` options); see :func:`scan_csv`."""
    return _read("csv", source, storage_options, columns, options)


def read_ndjson(
    source: Any, *, columns: Sequence[str] | Sequence[int] | str | None = None,
    storage_options: Mapping[str, Any] | None = None, **options: Any,
) -> pl.DataFrame:
    """Read NDJSON from a bucket into a DataFrame (``pl.read_ndjson`` options); see :func:`scan_ndjson`."""
    return _read("ndjson", source, storage_options, columns, options)


def read_ipc(
    source: Any, *, columns: Sequence[str] | Sequence[int] | str | None = None,
    storage_options: Mapping[str, Any] | None = None, **options: Any,
) -> pl.DataFrame:
    """Read Arrow IPC from a bucket into a DataFrame (``pl.read_ipc`` options); see :func:`scan_ipc`."""
    return _read("ipc", source, storage_options, columns, options)
