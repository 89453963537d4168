"""The ``hfbucket`` PySpark Python Data Source: tasks stream and store, the driver commits once.

::

    from hf_bucket_sink.spark import register, save
    register(spark)
    df.write.format("hfbucket").mode("overwrite").save("hf://buckets/me/b/out/")
    save(df, "hf://buckets/me/b/out/", mode="error")        # also "ignore" (see below)
    back = spark.read.format("hfbucket").load("hf://buckets/me/b/out/")

How Spark's callbacks map onto the project's upload-then-register design:

- ``HFBucketDataSource.writer()`` runs on the driver while Spark plans the write, before any
  task: the preflight. It proves token, bucket and write access (a Xet write token) and applies
  ``if_exists``. An error here fails ``save()`` with no task started.
- ``BucketArrowWriter.write()`` (one Spark task): streams the task's Arrow batches into Parquet /
  CSV / NDJSON through one :class:`~hf_bucket_sink.core.upload.UploadSession`, calls
  ``store()`` (bytes and shard in Xet, nothing registered) and returns the
  :class:`~hf_bucket_sink.core.commit.StoredFile` records. File names depend on the write id and
  the partition id, never on the attempt: a retried or speculative attempt writes the same names.
- ``commit()`` (driver, once every task succeeded): keeps one message per partition id and
  registers every file through :func:`commit_output` (the commit module). ``abort()`` registers
  nothing.

Reading (``HFBucketDataSource.schema()`` / ``reader()`` on the driver, ``BucketReader.read()`` in
tasks): the files a folder's manifest lists at their Xet hashes (else a listing), one input
partition per file or per ``split_size`` byte range of a large file, ``key=value`` folders as
columns, and (:class:`BucketFilteringReader`) Spark's filters where Arrow gives the same rows:
hive filters drop files on the driver, the others prune row groups by statistics and filter the
rows read. A task reads the version it was planned with, also after an overwrite retired it.

Spark 4 refuses ``mode("error")`` and ``mode("ignore")`` for Python data sources
(``UNSUPPORTED_DATA_SOURCE_SAVE_MODE``) and its ``partitionBy()`` never reaches them (the write
fails with "partitioning columns do not match"). Hence the options ``if_exists`` (with
``mode("append")``; :func:`save` does that for you) and ``partitionBy`` (``"col1,col2"``).

Credentials: the token never travels inside the pickled writer (Spark ships it to every task).
Tasks resolve their own: ``HF_TOKEN`` in the executor's environment (``spark.executorEnv.HF_TOKEN``
on a cluster; in local mode the environment of the process that started Spark), else the token
file of ``hf auth login``. A ``token`` option is used on the driver only: checked in the
preflight, and kept for ``commit()`` in a private file (mode 0600) that ``commit()`` / ``abort()``
delete.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.types import StructField, StructType

from hf_bucket_sink.core import commit as commit_module
from hf_bucket_sink.core.commit import CommitReport, StoredFile
from hf_bucket_sink.core.credentials import HubCredentials, resolve_credentials
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.manifest import Manifest
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.upload import manifest_storer
from hf_bucket_sink.errors import AuthenticationError, BucketFileExistsError, InvalidOptionError

__all__ = [
    "HFBucketDataSource",
    "BucketArrowWriter",
    "BucketReader",
    "BucketFilteringReader",
    "TaskFiles",
    "FilePartition",
    "commit_output",
    "SparkWriteOptions",
]

logger = logging.getLogger("hf_bucket_sink")

#: extension and content type per ``format`` option
FORMATS: dict[str, tuple[str, str]] = {
    "parquet": ("parquet", "application/vnd.apache.parquet"),
    "csv": ("csv", "text/csv"),
    "ndjson": ("jsonl", "application/x-ndjson"),
}
IF_EXISTS = ("error", "ignore", "append", "overwrite")
#: a task starts a new file once its current one has this many bytes
DEFAULT_TARGET_FILE_SIZE = 512 * 1024 * 1024
DEFAULT_ROW_GROUP_SIZE = 122_880
_KNOWN = {
    "path", "token", "endpoint", "format", "compression", "compression_level", "row_group_size",
    "target_file_size", "rows_per_file", "content_defined_chunking", "partitionby", "if_exists",
}


def _int(options: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = options.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidOptionError(f"hfbucket option {key}={raw!r} must be a whole number >= 1.")
    return value


def _bool(options: Mapping[str, str], key: str) -> bool:
    raw = str(options.get(key, "false")).strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise InvalidOptionError(f"hfbucket option {key}={options.get(key)!r} must be true or false.")
    return raw in ("true", "1", "yes")


@dataclass(frozen=True)
class SparkWriteOptions:
    """The validated write options (strings from ``.option(...)``); picklable, no token."""

    base: BucketPath
    endpoint: str
    format: str
    if_exists: str
    compression: str
    compression_level: int | None
    row_group_size: int
    target_file_size: int
    rows_per_file: int | None
    cdc: Any
    partition_by: tuple[str, ...]

    @classmethod
    def parse(cls, options: Mapping[str, str], overwrite: bool, schema: StructType) -> SparkWriteOptions:
        keys = {str(k).lower() for k in options}
        unknown = sorted(keys - _KNOWN)
        if unknown:
            raise InvalidOptionError(
                f"Unknown hfbucket option(s) {', '.join(unknown)}. Known: {', '.join(sorted(_KNOWN - {'path'}))}."
            )
        path = options.get("path")
        if not path:
            raise InvalidOptionError("hfbucket needs a target: df.write.format('hfbucket').save('hf://buckets/<ns>/<bucket>/<dir>/').")
        fmt = str(options.get("format", "parquet")).lower()
        if fmt not in FORMATS:
            raise InvalidOptionError(f"hfbucket option format={fmt!r}: use one of {', '.join(FORMATS)}.")
        if_exists = str(options.get("if_exists", "overwrite" if overwrite else "append")).lower()
        if if_exists not in IF_EXISTS:
            raise InvalidOptionError(f"hfbucket option if_exists={if_exists!r}: use one of {', '.join(IF_EXISTS)}.")
        if overwrite and if_exists != "overwrite":
            raise InvalidOptionError(
                f"mode('overwrite') and if_exists={if_exists!r} contradict each other; use mode('append') with if_exists."
            )
        from hf_bucket_sink.polars.cdc import cdc_options  # imports Polars: only where it is used

        cdc = cdc_options(_bool(options, "content_defined_chunking") or None)
        if fmt != "parquet" and (cdc or "compression" in keys):
            raise InvalidOptionError("compression and content_defined_chunking are Parquet options; format is " + fmt + ".")
        names = set(schema.fieldNames())
        partition_by = tuple(c.strip() for c in str(options.get("partitionBy", "")).split(",") if c.strip())
        missing = [c for c in partition_by if c not in names]
        if missing:
            raise InvalidOptionError(f"partitionBy column(s) {missing} are not in the DataFrame ({sorted(names)}).")
        if partition_by and len(partition_by) == len(names):
            raise InvalidOptionError("partitionBy cannot use every column: the files would have none left.")
        creds = resolve_credentials({"endpoint": options["endpoint"]} if options.get("endpoint") else {})
        return cls(
            base=BucketPath.parse(str(path), kind="dir"),
            endpoint=creds.endpoint,
            format=fmt,
            if_exists=if_exists,
            compression=str(options.get("compression", "zstd")),
            compression_level=_int(options, "compression_level", None),
            row_group_size=_int(options, "row_group_size", DEFAULT_ROW_GROUP_SIZE) or DEFAULT_ROW_GROUP_SIZE,
            target_file_size=_int(options, "target_file_size", DEFAULT_TARGET_FILE_SIZE) or DEFAULT_TARGET_FILE_SIZE,
            rows_per_file=_int(options, "rows_per_file", None),
            cdc=cdc,
            partition_by=partition_by,
        )


# -- the driver's token, kept out of the pickled writer -----------------------------------------------


def _stash_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"hf-bucket-sink-spark-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _stash_token(write_id: str, token: str) -> None:
    fd = os.open(_stash_dir() / write_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token)


def _take_token(write_id: str) -> str | None:
    path = _stash_dir() / write_id
    try:
        token = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return token


def _process_credentials(endpoint: str, what: str) -> HubCredentials:
    creds = resolve_credentials({"endpoint": endpoint})
    if creds.token is None:
        raise AuthenticationError(
            f"No Hugging Face token in the Spark process for {what} (pid {os.getpid()}). The hfbucket writer never "
            "ships the token inside tasks: set HF_TOKEN for the executors (spark.executorEnv.HF_TOKEN, or in the "
            "environment that starts Spark in local mode) or log them in with `hf auth login`. Nothing was registered."
        )
    return creds


# -- the commit point ---------------------------------------------------------------------------------


def commit_output(
    hub: HubClient, base: BucketPath, files: Sequence[StoredFile], *, if_exists: str, fmt: str = "parquet",
    previous: Manifest | None = commit_module.UNREAD,
) -> CommitReport:
    """Make ``files`` the output under ``base``: THE one call into the commit module.

    The commit point is the output's manifest beside the folder (core/commit.py): ``overwrite``
    retires the previous output only after it; ``append`` lists old and new files together.
    ``previous``: the manifest the preflight read (saves a round trip, and a commit made by someone
    else since then is detected and replaced whole).
    Raises :class:`~hf_bucket_sink.CommitError` with ``.visible`` / ``.previous_intact``.
    """
    access = hub.xet_token(base.bucket_id, write=True)
    return commit_module.commit_output(
        hub, base.bucket_id, list(files),
        directory=base.path,
        mode="overwrite" if if_exists == "overwrite" else "append",
        manifest_fields={"format": fmt, "writer": "hf_bucket_sink.spark"},
        store_manifest=manifest_storer(hub, base.bucket_id, access),
        previous=previous,
    )


# -- writing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFiles(WriterCommitMessage):
    """What one task returns: its partition id, attempt, the files it stored (not registered), rows, memory."""

    partition_id: int
    attempt: int
    files: tuple[StoredFile, ...]
    rows: int
    peak_rss_bytes: int
    pid: int


class _Encoder:
    """One open bucket file being written from Arrow tables (Parquet via pyarrow, text via Polars)."""

    def __init__(self, opts: SparkWriteOptions, file: Any) -> None:
        self.opts = opts
        # Polars is imported by the tasks that write, not by every Spark worker that loads this module
        from hf_bucket_sink.polars.cdc import TellingFile

        self.gate = TellingFile(file)
        self.rows = 0
        self._parquet: Any = None
        self._schema: Any = None
        self._header = False

    def write(self, table: Any) -> None:
        if self.opts.format == "parquet":
            import pyarrow.parquet as pq

            from hf_bucket_sink.polars.cdc import arrow_row_groups, portable_schema

            if self._parquet is None:
                self._schema = portable_schema(table.schema)
                self._parquet = pq.ParquetWriter(
                    self.gate, self._schema, compression=self.opts.compression,
                    compression_level=self.opts.compression_level, use_content_defined_chunking=self.opts.cdc or False,
                )
            for group in arrow_row_groups([table], self.opts.row_group_size, self._schema):
                self._parquet.write_table(group, row_group_size=group.num_rows)
        else:
            import polars as pl

            frame = pl.from_arrow(table, rechunk=False)
            assert isinstance(frame, pl.DataFrame)
            if self.opts.format == "csv":
                frame.write_csv(self.gate, include_header=not self._header)
                self._header = True
            else:
                frame.write_ndjson(self.gate)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()

    def discard(self) -> None:
        self.gate.shut()  # pyarrow writes a footer when destroyed: send it nowhere
        if self._parquet is not None:
            self._parquet.is_open = False


def _peak_rss() -> int:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _hive_dir(keys: Sequence[str], values: Sequence[Any]) -> str:
    from urllib.parse import quote

    parts = []
    for k, v in zip(keys, values):
        text = "__HIVE_DEFAULT_PARTITION__" if v is None else quote(str(v), safe=" -_.")
        parts.append(f"{k}={text}")
    return "/".join(parts) + "/"


class BucketArrowWriter(DataSourceArrowWriter):
    """Spark's writer object: pickled into every task (without a token), and unpickled for commit/abort."""

    def __init__(
        self, opts: SparkWriteOptions, write_id: str, *, skip: bool = False, stashed: bool = False,
        previous: Manifest | None = commit_module.UNREAD,
    ) -> None:
        self.opts = opts
        # the output's manifest as the preflight read it (None: no committed output); the UNREAD
        # sentinel is compared by identity, which pickling does not keep, so a flag travels instead
        self.previous_read = previous is not commit_module.UNREAD
        self.previous = previous if self.previous_read else None
        self.write_id = write_id
        self.skip = skip  # if_exists="ignore" and the output exists: write and register nothing
        self.stashed = stashed
        self.report: CommitReport | None = None

    # -- one task ----------------------------------------------------------------------------------
    def write(self, iterator: Iterator[Any]) -> TaskFiles:
        from pyspark import TaskContext

        import pyarrow as pa

        from hf_bucket_sink.core.upload import UploadSession

        ctx = TaskContext.get()
        pid_, attempt = (ctx.partitionId(), ctx.attemptNumber()) if ctx is not None else (0, 0)
        if self.skip:
            return TaskFiles(pid_, attempt, (), 0, _peak_rss(), os.getpid())
        opts = self.opts
        what = f"partition {pid_} of {opts.base}"
        hub = HubClient(_process_credentials(opts.endpoint, what))
        access = hub.xet_token(opts.base.bucket_id, write=True)
        ext, content_type = FORMATS[opts.format]
        open_files: dict[str, tuple[Any, _Encoder]] = {}  # hive dir -> (target, encoder)
        counters: dict[str, int] = {}
        rows = 0
        with UploadSession(hub, opts.base.bucket_id, access) as session:
            try:
                for batch in iterator:
                    table = pa.Table.from_batches([batch])
                    for directory, part in self._split(table):
                        rows += part.num_rows
                        self._write_part(session, open_files, counters, directory, part, pid_, ext, content_type)
                for directory in list(open_files):
                    self._close(session, open_files, directory)
            except BaseException:
                for _, enc in open_files.values():
                    enc.discard()
                raise  # the session's __exit__ aborts every upload of this task: nothing is kept
            stored, _sent = session.store()
        return TaskFiles(pid_, attempt, tuple(stored), rows, _peak_rss(), os.getpid())

    def _split(self, table: Any) -> Iterator[tuple[str, Any]]:
        keys = self.opts.partition_by
        if not keys:
            yield "", table
            return
        import pyarrow.compute as pc

        data = table.drop_columns(list(keys))
        groups = table.select(list(keys)).group_by(list(keys), use_threads=False).aggregate([])
        for values in groups.to_pylist():
            mask = None
            for k in keys:
                v = values[k]
                cond = pc.is_null(table[k]) if v is None else pc.equal(table[k], v)
                mask = cond if mask is None else pc.and_(mask, cond)
            yield _hive_dir(keys, [values[k] for k in keys]), data.filter(mask)

    def _write_part(
        self, session: Any, open_files: dict[str, Any], counters: dict[str, int], directory: str, table: Any,
        pid_: int, ext: str, content_type: str,
    ) -> None:
        opts = self.opts
        start = 0
        while start < table.num_rows:
            if directory not in open_files:
                index = counters.get(directory, 0)
                counters[directory] = index + 1
                # named by (write id, partition id, file index): the same for every attempt of this partition
                target = opts.base.join(f"{directory}part-{pid_:05d}-{self.write_id}-c{index:03d}.{ext}")
                open_files[directory] = (target, _Encoder(opts, session.open_writer(target, content_type=content_type)))
            target, enc = open_files[directory]
            room = (opts.rows_per_file - enc.rows) if opts.rows_per_file else table.num_rows - start
            piece = table.slice(start, room)
            enc.write(piece)
            start += piece.num_rows
            if (opts.rows_per_file and enc.rows >= opts.rows_per_file) or enc.gate.tell() >= opts.target_file_size:
                self._close(session, open_files, directory)

    @staticmethod
    def _close(session: Any, open_files: dict[str, Any], directory: str) -> None:
        target, enc = open_files.pop(directory)
        enc.close()
        session.set_rows(target, enc.rows)

    # -- the driver --------------------------------------------------------------------------------
    def _driver_hub(self) -> HubClient:
        token = _take_token(self.write_id) if self.stashed else None
        if token is not None:
            return HubClient(resolve_credentials({"token": token, "endpoint": self.opts.endpoint}))
        return HubClient(_process_credentials(self.opts.endpoint, f"the commit of {self.opts.base}"))

    def commit(self, messages: Sequence[Any]) -> None:
        """Register every task's files in one commit (one message per partition id)."""
        hub = self._driver_hub()
        if self.skip:
            logger.info("hfbucket: %s already holds files and if_exists='ignore': nothing written", self.opts.base)
            return
        by_partition: dict[int, TaskFiles] = {}
        for m in messages:
            if isinstance(m, TaskFiles):
                by_partition[m.partition_id] = m  # a retried/speculative attempt: the same names, keep one
        files = [f for p in sorted(by_partition) for f in by_partition[p].files]
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise AssertionError(f"two partitions produced the same file name under {self.opts.base}; nothing was registered")
        started = time.perf_counter()
        self.report = commit_output(hub, self.opts.base, files, if_exists=self.opts.if_exists, fmt=self.opts.format,
                                    previous=self.previous if self.previous_read else commit_module.UNREAD)
        logger.info(
            "hfbucket: registered %d file(s) from %d partition(s) under %s in %.2f s",
            len(files), len(by_partition), self.opts.base, time.perf_counter() - started,
        )

    def abort(self, messages: Sequence[Any]) -> None:
        """A task failed: register nothing; the stored bytes are never referenced."""
        if self.stashed:
            _take_token(self.write_id)
        stored = sum(len(m.files) for m in messages if isinstance(m, TaskFiles))
        logger.warning(
            "hfbucket write into %s aborted: nothing was registered (the folder is as it was); %d file(s) stored by "
            "finished tasks stay invisible.", self.opts.base, stored,
        )


# -- reading -------------------------------------------------------------------------------------------

#: a file larger than this is read by several tasks, each taking the row groups that start in its byte
#: range (Spark's own Parquet reader splits by ``spark.sql.files.maxPartitionBytes``, 128 MiB, the same way)
DEFAULT_SPLIT_SIZE = 128 * 1024 * 1024
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
#: field metadata of the schema ``schema()`` infers: True on hive columns, False on the file's own
#: columns, so the reader knows which is which without reading a footer on the driver
HIVE_FIELD = "hfbucket_hive"
_READ_KNOWN = {"path", "token", "endpoint", "format", "split_size", "pushfilters"}
_INTEGER = re.compile(r"[+-]?\d{1,18}")


@dataclass(frozen=True)
class FilePartition(InputPartition):
    """One input partition: the row groups of one Parquet file that start in ``[start, end)``.

    ``end=None`` is the whole file; ``hive`` the file's ``key=value`` folders (raw values, None for
    ``__HIVE_DEFAULT_PARTITION__``). The file is read at ``xet_hash``, the version the listing or
    the manifest named.
    """

    bucket_id: str
    path: str
    size: int
    xet_hash: str
    start: int = 0
    end: int | None = None
    hive: tuple[tuple[str, str | None], ...] = ()


def _hive_pairs(relative: str) -> tuple[tuple[str, str | None], ...]:
    from urllib.parse import unquote

    pairs = []
    for part in relative.split("/")[:-1]:
        if "=" in part:
            key, value = part.split("=", 1)
            pairs.append((unquote(key), None if value == HIVE_NULL else unquote(value)))
    return tuple(pairs)


def _hive_fields(files: Sequence[FilePartition], taken: set[str]) -> list[Any]:
    """Partition columns of ``key=value`` folders: ``long`` when every value is an integer, else ``string``."""
    from pyspark.sql.types import LongType, StringType, StructField

    values: dict[str, list[str]] = {}
    for f in files:
        for key, value in f.hive:
            values.setdefault(key, [])
            if value is not None:
                values[key].append(value)
    out = []
    for key, seen in values.items():
        if key in taken:  # a column stored in the files wins over a folder name
            continue
        integral = bool(seen) and all(_INTEGER.fullmatch(v) for v in seen)
        out.append(StructField(key, LongType() if integral else StringType(), True, metadata={HIVE_FIELD: True}))
    return out


def _split(files: Sequence[FilePartition], split_size: int) -> list[FilePartition]:
    out: list[FilePartition] = []
    for f in files:
        if f.size <= split_size:
            out.append(f)
            continue
        for lo in range(0, f.size, split_size):
            hi = lo + split_size
            out.append(FilePartition(f.bucket_id, f.path, f.size, f.xet_hash, lo, None if hi >= f.size else hi, f.hive))
    return out


def _row_group_start(group: Any) -> int:
    """Where a row group's bytes begin (its first column chunk's dictionary page, else its first data page)."""
    col = group.column(0)
    offsets = [col.data_page_offset]
    if col.has_dictionary_page and col.dictionary_page_offset is not None and col.dictionary_page_offset > 0:
        offsets.append(col.dictionary_page_offset)
    return int(min(offsets))


def _exact_types() -> tuple[type, ...]:
    from pyspark.sql import types as t

    # types whose comparisons mean the same in Spark and in Arrow (floats differ on NaN, timestamps on zones)
    return (t.ByteType, t.ShortType, t.IntegerType, t.LongType, t.StringType, t.BooleanType, t.DateType)


def _arrow_expression(flt: Any, types: Mapping[str, Any]) -> Any:
    """A Spark filter as a pyarrow expression with the same rows kept, or None when there is no exact one."""
    import operator

    import pyarrow.compute as pc
    from pyspark.sql import datasource as d

    if isinstance(flt, d.Not):
        inner = _arrow_expression(flt.child, types)
        return None if inner is None else ~inner
    attr = getattr(flt, "attribute", None)
    if not isinstance(attr, tuple) or len(attr) != 1 or not isinstance(types.get(attr[0]), _exact_types()):
        return None
    column = pc.field(attr[0])
    if isinstance(flt, d.IsNull):
        return column.is_null()
    if isinstance(flt, d.IsNotNull):
        return column.is_valid()
    if isinstance(flt, d.In):
        values = list(flt.value)
        return None if not values or any(v is None for v in values) else column.isin(values)
    compare = {
        d.EqualTo: operator.eq, d.GreaterThan: operator.gt, d.GreaterThanOrEqual: operator.ge,
        d.LessThan: operator.lt, d.LessThanOrEqual: operator.le,
    }
    op = compare.get(type(flt))
    value = getattr(flt, "value", None)
    if op is None or value is None or isinstance(value, (list, tuple, dict)):
        return None
    return op(column, pc.scalar(value))


def _attributes(flt: Any) -> set[str]:
    from pyspark.sql import datasource as d

    if isinstance(flt, d.Not):
        return _attributes(flt.child)
    return {flt.attribute[0]}


def _conjunction(expressions: Sequence[Any]) -> Any:
    out = None
    for e in expressions:
        out = e if out is None else out & e
    return out


class _PinnedRanges:
    """Ranged reads pinned to the listed version, also after that path was overwritten or deleted.

    :class:`ResolveRanges` switches to a by-hash Xet read when the path serves another version; a
    path deleted since planning (an overwrite retires the old files after its commit point) is read
    by hash as well, so a query planned before an overwrite reads the version it planned, whole.
    """

    def __init__(self, hub: HubClient) -> None:
        from hf_bucket_sink.core.remote_file import ResolveRanges

        self.resolve = ResolveRanges(hub)
        self.counter = self.resolve.counter
        self.hub = hub
        self._by_hash: Any = None

    def read(self, entry: Any, start: int, end: int) -> bytes:
        from hf_bucket_sink.core.remote_file import XetRanges
        from hf_bucket_sink.errors import BucketFileNotFoundError

        if self._by_hash is None:
            try:
                return self.resolve.read(entry, start, end)
            except BucketFileNotFoundError:
                logger.info("%s was removed since the read was planned: reading the planned version by hash", entry.uri)
                self._by_hash = XetRanges(self.hub)
                self._by_hash.counter = self.counter
        return self._by_hash.read(entry, start, end)


def _arrow_to_spark(schema: Any) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


class BucketReader(DataSourceReader):
    """Reads Parquet files: one input partition per file (or per byte range of a large file).

    Only the columns of the read schema are fetched; ``hive`` folder values become columns. The
    subclass :class:`BucketFilteringReader` (the default) also takes Spark's filters.
    """

    def __init__(
        self, files: Sequence[FilePartition], endpoint: str, schema: StructType, *, split_size: int = DEFAULT_SPLIT_SIZE
    ) -> None:
        self.files = list(files)
        self.endpoint = endpoint
        self.columns = list(schema.fieldNames())
        self.types = {f.name: f.dataType for f in schema.fields}
        marked = {f.name: bool(f.metadata.get(HIVE_FIELD)) for f in schema.fields if HIVE_FIELD in (f.metadata or {})}
        # a schema of ours says which columns come from folders; a schema of yours: every folder key does
        self.hive_names = {n for n, hive in marked.items() if hive} if marked else {k for f in self.files for k, _ in f.hive}
        self.split_size = split_size
        self.row_filters: list[Any] = []  # pyarrow expressions on file columns (exact)
        self.file_filters: list[Any] = []  # pyarrow expressions on hive columns (exact, per file)

    def _hive_table(self, f: FilePartition, rows: int) -> Any:
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_type

        values = dict(f.hive)
        arrays, names = [], []
        for name in self.columns:
            if name in self.hive_names:
                raw = values.get(name)
                typ = to_arrow_type(self.types[name])
                value = None if raw is None else (int(raw) if pa.types.is_integer(typ) else raw)
                arrays.append(pa.array([value] * rows, type=typ))
                names.append(name)
        return pa.table(arrays, names=names) if names else None

    def partitions(self) -> Sequence[InputPartition]:
        files = self.files
        if self.file_filters:
            expr = _conjunction(self.file_filters)
            files = [f for f in files if (t := self._hive_table(f, 1)) is not None and t.filter(expr).num_rows]
        return _split(files, self.split_size)

    def read(self, partition: InputPartition) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        from hf_bucket_sink.core.remote_file import RemoteEntry, RemoteFile

        assert isinstance(partition, FilePartition)
        hub = HubClient(_process_credentials(self.endpoint, f"reading {partition.path}"))
        entry = RemoteEntry(partition.bucket_id, partition.path, partition.size, partition.xet_hash)
        row_filter = _conjunction(self.row_filters)
        with pa.PythonFile(RemoteFile(entry, _PinnedRanges(hub)), mode="r") as f:
            pf = pq.ParquetFile(f)
            meta = pf.metadata
            stored = set(pf.schema_arrow.names)  # a column stored in the file wins over a folder name
            file_columns = [c for c in self.columns if c in stored or c not in self.hive_names]
            lo, hi = partition.start, partition.end if partition.end is not None else partition.size
            groups = [i for i in range(meta.num_row_groups) if lo <= _row_group_start(meta.row_group(i)) < hi]
            if row_filter is not None and groups:
                # row-group pruning on the footer's statistics (pyarrow's own rules)
                fragment = ds.ParquetFileFormat().make_fragment(f, row_groups=groups)
                groups = [g.id for piece in fragment.split_by_row_group(filter=row_filter) for g in piece.row_groups]
            for i in groups:
                table = pf.read_row_group(i, columns=file_columns)  # one row group in memory at a time
                if row_filter is not None:
                    table = table.filter(row_filter)
                hive = self._hive_table(partition, table.num_rows)
                if hive is not None:
                    for name in hive.column_names:
                        if name not in stored:
                            table = table.append_column(name, hive[name])
                yield from table.select(self.columns).to_batches()


class BucketFilteringReader(BucketReader):
    """:class:`BucketReader` that takes Spark's filters (pyspark >= 4.1, ``spark.sql.python.filterPushdown.enabled``).

    A filter on a hive column drops whole files on the driver; a filter on a file column prunes row
    groups by their statistics and is applied exactly to the rows read. Both are then done: Spark
    does not evaluate them again. Filters with no exact Arrow equivalent (floats, timestamps,
    nested fields, string patterns) are returned to Spark.
    """

    def pushFilters(self, filters: list[Any]) -> Iterator[Any]:  # noqa: N802 (Spark's name)
        for flt in filters:
            expr = _arrow_expression(flt, self.types)
            if expr is None:
                yield flt
                continue
            names = _attributes(flt)
            if names <= self.hive_names:
                self.file_filters.append(expr)
            elif not names & self.hive_names:
                self.row_filters.append(expr)
            else:
                yield flt


class HFBucketDataSource(DataSource):
    """``spark.read/write.format("hfbucket")``: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return "hfbucket"

    def _hub(self) -> HubClient:
        opts: dict[str, Any] = {}
        if self.options.get("token"):
            opts["token"] = self.options["token"]
        if self.options.get("endpoint"):
            opts["endpoint"] = self.options["endpoint"]
        return HubClient(resolve_credentials(opts))

    def writer(self, schema: StructType, overwrite: bool) -> BucketArrowWriter:
        """The preflight (driver, before any task): options, token, bucket, write access, ``if_exists``."""
        opts = SparkWriteOptions.parse(self.options, overwrite, schema)
        hub = self._hub()
        hub.xet_token(opts.base.bucket_id, write=True)  # proves token + bucket + write access
        skip = False
        if opts.if_exists in ("error", "ignore"):
            existing = next(
                (e for e in hub.list_tree(opts.base.bucket_id, opts.base.path, recursive=True) if e.get("type") != "directory"),
                None,
            )
            if existing is not None and opts.if_exists == "error":
                raise BucketFileExistsError(
                    f"{opts.base} already holds files (e.g. {existing.get('path')!r}) and if_exists='error'; no task ran "
                    "and nothing was written. Delete them, choose another folder, or use mode('overwrite') / "
                    "if_exists='append'."
                )
            skip = existing is not None
        previous = commit_module.read_manifest(hub, opts.base.bucket_id, opts.base.path)
        write_id = uuid.uuid4().hex
        stashed = False
        if self.options.get("token"):
            _stash_token(write_id, str(self.options["token"]))
            stashed = True
        return BucketArrowWriter(opts, write_id, skip=skip, stashed=stashed, previous=previous)

    def _files(self) -> tuple[HubClient, list[FilePartition]]:
        """The files to read: exactly the committed ones (manifest beside a folder, at their hashes), else a listing."""
        from hf_bucket_sink.polars.scans import list_sources

        path = self.options.get("path")
        if not path:
            raise InvalidOptionError("hfbucket needs a source: spark.read.format('hfbucket').load('hf://buckets/<ns>/<bucket>/<dir>/').")
        unknown = sorted({str(k).lower() for k in self.options} - _READ_KNOWN)
        if unknown:
            raise InvalidOptionError(
                f"Unknown hfbucket read option(s) {', '.join(unknown)}. Known: {', '.join(sorted(_READ_KNOWN - {'path'}))}."
            )
        fmt = str(self.options.get("format", "parquet")).lower()
        if fmt != "parquet":
            raise InvalidOptionError(f"hfbucket reads Parquet only for now (format={fmt!r}).")
        hub = self._hub()
        # list_sources follows a folder's commit point (core/manifest.read_manifest): during an
        # overwrite the read sees the old or the new version whole, never a mix
        sources = list_sources(hub, str(path), "parquet", glob=True, hidden=(".", "_"))
        base = sources.base
        files = [
            FilePartition(e.bucket_id, e.path, e.size, e.xet_hash, hive=_hive_pairs(f"{e.bucket_id}/{e.path}"[len(base):]))
            for e in sources.files
        ]
        return hub, files

    def schema(self) -> StructType:
        """The first file's Parquet schema (from its footer: a few ranged reads) plus the hive columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from hf_bucket_sink.core.remote_file import RemoteEntry, RemoteFile, ResolveRanges

        hub, files = self._files()
        if not files:
            raise InvalidOptionError(f"{self.options.get('path')} holds no Parquet file: nothing to infer a schema from.")
        first = files[0]
        entry = RemoteEntry(first.bucket_id, first.path, first.size, first.xet_hash)
        with pa.PythonFile(RemoteFile(entry, ResolveRanges(hub)), mode="r") as f:
            stored = _arrow_to_spark(pq.read_schema(f))
        schema = StructType([
            StructField(x.name, x.dataType, x.nullable, metadata={**(x.metadata or {}), HIVE_FIELD: False}) for x in stored.fields
        ])
        for extra in _hive_fields(files, set(schema.fieldNames())):
            schema = schema.add(extra)
        return schema

    def reader(self, schema: StructType) -> BucketReader:
        """The planned read: the file list is fixed here (one version of the output)."""
        hub, files = self._files()
        split_size = _int(self.options, "split_size", DEFAULT_SPLIT_SIZE) or DEFAULT_SPLIT_SIZE
        push = _bool({"pushfilters": self.options.get("pushFilters", "true")}, "pushfilters")
        cls = BucketFilteringReader if push else BucketReader
        return cls(files, hub.creds.endpoint, schema, split_size=split_size)
