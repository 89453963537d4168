"""Ray Data into a Storage Bucket: :class:`BucketDatasink`, and the :class:`TaskWrite` each task returns.

How the datasink maps onto Ray's ``Datasink`` callbacks (the upload-then-register design of
the Polars sinks, spread over a cluster):

- ``on_write_start`` (driver, before any write task is submitted): resolve the token and
  endpoint, ask the Hub for a Xet write token (proves token, bucket and write access), apply
  ``if_exists``. Errors are typed (``AuthenticationError``, ``BucketNotFoundError``, …).
- ``write`` (one Ray task): stream the task's blocks into one or more bucket files through one
  hf_xet upload commit (bounded memory: one row group of Arrow data plus the upload's fixed
  buffers), wait until every byte and the shard are stored, and return the file records
  (path, size, Xet hash, rows). Nothing is registered: a failed or retried task leaves nothing
  visible, and its stored bytes are simply never referenced.
- ``on_write_complete`` (driver): :func:`~hf_bucket_sink.core.commit.commit_output`, the protocol
  of every writer (docs/commit-protocol.md): data files, then the manifest beside the folder as
  the commit point, then the previous output's files retired. ``on_write_failed``: logs what is
  visible (a :class:`~hf_bucket_sink.CommitError` names it).

Credentials: the datasink is pickled into every task and never carries a token (its
``__getstate__`` drops it). Workers resolve the token themselves, the documented way:
``token_provider()`` if given (a picklable callable returning the token), else ``HF_TOKEN`` in
the worker's environment (``ray.init(runtime_env={"env_vars": {"HF_TOKEN": …}})``), else the token
file of ``hf auth login`` on the worker's machine. The endpoint resolved on the driver is shipped
(it is not a secret).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ray.data.block import BlockAccessor
from ray.data.datasource.datasink import Datasink

from hf_bucket_sink.core.commit import CommitReport, StoredFile, commit_output
from hf_bucket_sink.core.credentials import HubCredentials, resolve_credentials
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.manifest import Manifest, read_manifest
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.result import SinkResult
from hf_bucket_sink.core.upload import UploadSession, manifest_storer, result_of
from hf_bucket_sink.engines.ray.encoder import TableFileEncoder
from hf_bucket_sink.engines.ray.formats import FORMATS, Format, check_format
from hf_bucket_sink.errors import (
    AuthenticationError,
    BucketFileExistsError,
    CommitError,
    InvalidOptionError,
)
from hf_bucket_sink.polars.cdc import DEFAULT_ROW_GROUP_SIZE, cdc_options

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BucketDatasink", "TaskWrite", "DEFAULT_PLAIN_ROW_GROUP_SIZE", "DEFAULT_TARGET_BYTES_PER_FILE"]

logger = logging.getLogger("hf_bucket_sink")

IfExists = Literal["error", "overwrite", "append"]

#: rows per Parquet row group without CDC (Polars' default): ~25-60 MB of Arrow data for wide rows
DEFAULT_PLAIN_ROW_GROUP_SIZE = 122_880
#: a new file is started once the current one has this many bytes (checked after each row group / batch)
DEFAULT_TARGET_BYTES_PER_FILE = 512 * 1024 * 1024
#: rows handed to the CSV / NDJSON encoder at a time: bounds the text buffer Polars builds, and is
#: the granularity at which a text file is closed once it reaches ``target_bytes_per_file``
_TEXT_BATCH_ROWS = 4_096
#: Ray's per-write id in ``TaskContext.kwargs`` (the same for every task and retry of one write)
_RAY_WRITE_UUID = "write_uuid"


@dataclass(frozen=True, slots=True)
class TaskWrite:
    """What one ``write`` task returns to the driver: the files it stored (not registered) and how.

    ``peak_rss_bytes`` is the peak resident memory of the worker process so far (Ray reuses
    workers, so it covers earlier tasks of the same process too); ``pid`` tells workers apart.
    """

    task_idx: int
    files: tuple[StoredFile, ...]
    rows: int
    uploaded_bytes: int
    seconds: float
    peak_rss_bytes: int
    pid: int


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _check_positive(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{name} must be an int >= 1{' or None' if allow_none else ''}; got {value!r}.")


def _split_options(storage_options: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """Validate ``storage_options`` like the Polars sinks do; return (explicit token, explicit endpoint)."""
    options = dict(storage_options or {})
    resolve_credentials(options)  # unknown keys and wrong types fail now, before Ray runs anything
    return options.get("token"), options.get("endpoint")


def _worker_credentials(endpoint: str | None, token_provider: Callable[[], str] | None, what: str) -> HubCredentials:
    """Credentials inside a Ray worker: ``token_provider()``, else HF_TOKEN, else the token file."""
    options: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
    if token_provider is not None:
        options["token"] = token_provider()
        if not isinstance(options["token"], str) or not options["token"].strip():
            raise AuthenticationError(f"token_provider() returned {type(options['token']).__name__}, not a token string, in {what}.")
    creds = resolve_credentials(options)
    if creds.token is None:
        raise AuthenticationError(
            f"No Hugging Face token in the Ray worker for {what} (pid {os.getpid()}). The datasink never ships "
            "the driver's token to workers: set HF_TOKEN for them (ray.init(runtime_env={'env_vars': "
            "{'HF_TOKEN': ...}})), log them in (`hf auth login` on each node), or pass token_provider=<callable>."
        )
    return creds



class BucketDatasink(Datasink[TaskWrite]):
    """A Ray Data datasink writing a dataset into a Storage Bucket folder, registered atomically per batch.

    >>> sink = BucketDatasink("hf://buckets/me/b/out/", format="parquet", if_exists="overwrite")
    >>> ds.write_datasink(sink)
    >>> sink.result.files[0].uri
    'hf://buckets/me/b/out/3f9c…_000000_0000.parquet'

    - ``uri``: the output folder ``hf://buckets/<namespace>/<bucket>/<dir>/``.
    - ``format``: ``"parquet"`` (pyarrow's writer; ``compression`` default zstd,
      ``compression_level``, ``row_group_size``, ``content_defined_chunking`` as for
      :func:`hf_bucket_sink.sink_parquet`), ``"csv"`` or ``"ndjson"`` (Polars' encoders).
    - ``storage_options``: ``token`` and ``endpoint``, used on the driver only (preflight and
      registration). Workers get the endpoint; for the token see ``token_provider`` below.
    - ``token_provider``: a picklable zero-argument callable returning the token, called in each
      task (e.g. reading a secret manager). Default: the worker's ``HF_TOKEN``, then its token file.
    - ``if_exists``: ``"overwrite"`` (default, as the Polars sinks: the new output replaces the
      committed one; the previous output's files it does not rewrite are deleted only after the
      commit point, docs/commit-protocol.md), ``"append"`` (the manifest lists the previous files
      and the new ones), ``"error"`` (the folder must hold no file, checked in the preflight).
    - ``manifest``: ``None``/``True`` (default: the commit point, a manifest beside the folder),
      ``False`` (no commit point: not atomic) - as for partitioned sinks.
    - ``min_rows_per_write``: Ray gives each write task at least this many rows (fewer, larger
      tasks and files). ``target_bytes_per_file``: a task starts a new file once its current one
      has this many bytes (default 512 MiB), so a file is at most about that plus one row group.

    File names: ``<dir>/<write id>_<task index:06>_<file index:04>.<ext>``. The write id is Ray's
    id of this write; a retried task gets the same task index and writes the same names, and only
    the attempt that returned is registered, so a retry never leaves a duplicate file.

    After ``write_datasink`` returns, :attr:`result` is a :class:`~hf_bucket_sink.SinkResult`
    (every file, sizes, Xet hashes, rows; bytes sent) and :attr:`tasks` the per-task
    :class:`TaskWrite` records (memory, seconds).
    """

    def __init__(
        self,
        uri: str,
        *,
        format: Format = "parquet",
        storage_options: Mapping[str, Any] | None = None,
        token_provider: Callable[[], str] | None = None,
        if_exists: IfExists = "overwrite",
        manifest: bool | None = None,
        min_rows_per_write: int | None = None,
        target_bytes_per_file: int = DEFAULT_TARGET_BYTES_PER_FILE,
        compression: str = "zstd",
        compression_level: int | None = None,
        row_group_size: int | None = None,
        content_defined_chunking: bool | Mapping[str, int] | None = None,
    ) -> None:
        self.base = BucketPath.parse(uri, kind="dir")
        check_format(format, "BucketDatasink")
        if if_exists not in ("error", "overwrite", "append"):
            raise InvalidOptionError(f"BucketDatasink: if_exists must be 'error', 'overwrite' or 'append', not {if_exists!r}.")
        if manifest not in (None, True, False):
            raise InvalidOptionError(f"BucketDatasink: manifest must be None (only when needed), True or False, not {manifest!r}.")
        if token_provider is not None and not callable(token_provider):
            raise InvalidOptionError("BucketDatasink: token_provider must be a zero-argument callable returning the token.")
        _check_positive("min_rows_per_write", min_rows_per_write, allow_none=True)
        _check_positive("target_bytes_per_file", target_bytes_per_file)
        cdc = cdc_options(content_defined_chunking)
        if format != "parquet" and (cdc or compression != "zstd" or compression_level is not None or row_group_size is not None):
            raise InvalidOptionError(
                "BucketDatasink: compression, compression_level, row_group_size and content_defined_chunking are "
                f"Parquet options; format={format!r} writes plain text."
            )
        _check_positive("row_group_size", row_group_size, allow_none=True)
        self.format = format
        self.if_exists = if_exists
        self.manifest = manifest
        self.target_bytes_per_file = target_bytes_per_file
        self._min_rows_per_write = min_rows_per_write
        self._token, self._endpoint = _split_options(storage_options)
        self._token_provider = token_provider
        self._writer_options: dict[str, Any] = {
            "compression": compression,
            "compression_level": compression_level,
            "cdc": cdc,
            "row_group_size": row_group_size or (DEFAULT_ROW_GROUP_SIZE if cdc else DEFAULT_PLAIN_ROW_GROUP_SIZE),
        }
        self._write_id = uuid.uuid4().hex  # replaced by Ray's write id in tasks when it gives one
        self._schema: pa.Schema | None = None
        self._started = 0.0
        self._previous: Manifest | None = None  # the committed output when the write started
        self.report: CommitReport | None = None
        self.result: SinkResult | None = None
        self.tasks: list[TaskWrite] = []
        self.error: BaseException | None = None

    # -- pickling: no secrets leave the driver -------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_token"] = None  # the driver's explicit token stays on the driver
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"BucketDatasink({str(self.base)!r}, format={self.format!r}, if_exists={self.if_exists!r})"

    # -- Ray's Datasink interface --------------------------------------------------------------------
    def get_name(self) -> str:
        return "HFBucket"

    @property
    def min_rows_per_write(self) -> int | None:
        return self._min_rows_per_write

    @property
    def supports_distributed_writes(self) -> bool:
        return True

    def _driver_hub(self) -> HubClient:
        options: dict[str, Any] = {}
        if self._token is not None:
            options["token"] = self._token
        elif self._token_provider is not None:
            options["token"] = self._token_provider()
        if self._endpoint is not None:
            options["endpoint"] = self._endpoint
        return HubClient(resolve_credentials(options))

    def preflight(self) -> None:
        """Check token, bucket, write access and ``if_exists`` now (``on_write_start`` calls it).

        Call it yourself to fail before building an expensive dataset. Raises
        ``AuthenticationError`` / ``BucketAccessDeniedError`` / ``BucketNotFoundError`` /
        ``BucketFileExistsError``.
        """
        hub = self._driver_hub()
        hub.xet_token(self.base.bucket_id, write=True)
        self._endpoint = hub.creds.endpoint  # workers write to the Hub the driver checked
        # the committed output this write starts from; compared again right before the commit point
        self._previous = read_manifest(hub, self.base.bucket_id, self.base.path)
        if self.if_exists == "error":
            if self._previous is not None:
                raise BucketFileExistsError(
                    f"{self.base} holds a committed output ({self._previous.location}) and if_exists='error' was given; "
                    "nothing was written. Delete it, choose another folder, or pass if_exists='overwrite' or 'append'."
                )
            for entry in hub.list_tree(self.base.bucket_id, self.base.path, recursive=True):
                if entry.get("type") != "directory":
                    raise BucketFileExistsError(
                        f"{self.base} already holds files (e.g. {entry.get('path')!r}) and if_exists='error' was given; "
                        "nothing was written. Delete them, choose another folder, or pass if_exists='overwrite' or 'append'."
                    )

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        """Driver, before the first write task is submitted: the preflight."""
        self._started = time.perf_counter()
        self._schema = schema
        self.result, self.tasks, self.error = None, [], None
        self.preflight()
        logger.info("Ray write of %s into %s: preflight passed", self.format, self.base)

    def write(self, blocks: Iterable[Any], ctx: Any) -> TaskWrite:
        """One task: stream its blocks into bucket files, store them in Xet, return the records (no registration)."""
        started = time.perf_counter()
        task_idx = int(getattr(ctx, "task_idx", 0))
        kwargs = getattr(ctx, "kwargs", None) or {}
        write_id = str(kwargs.get(_RAY_WRITE_UUID) or self._write_id)
        what = f"task {task_idx} writing into {self.base}"
        hub = HubClient(_worker_credentials(self._endpoint, self._token_provider, what))
        access = hub.xet_token(self.base.bucket_id, write=True)
        ext, content_type = FORMATS[self.format]
        rows_total = 0
        with UploadSession(hub, self.base.bucket_id, access) as session:
            out: TableFileEncoder | None = None
            target: BucketPath | None = None
            index = 0
            try:
                for block in blocks:
                    table = BlockAccessor.for_block(block).to_arrow()
                    # text is encoded a slice at a time, so a file can end inside a large block
                    step = _TEXT_BATCH_ROWS if self.format != "parquet" else max(table.num_rows, 1)
                    for start in range(0, table.num_rows, step):
                        if out is None:
                            target = self.base.join(f"{write_id}_{task_idx:06d}_{index:04d}.{ext}")
                            writer = session.open_writer(target, content_type=content_type)
                            out = TableFileEncoder(self.format, writer, self._writer_options)
                            index += 1
                        out.write(table.slice(start, step))
                        if out.bytes >= self.target_bytes_per_file:
                            out.close()
                            assert target is not None
                            session.set_rows(target, out.rows)
                            rows_total += out.rows
                            out = None
                if out is not None:
                    out.close()
                    assert target is not None
                    session.set_rows(target, out.rows)
                    rows_total += out.rows
                    out = None
            except BaseException:
                if out is not None:
                    out.discard()
                raise  # the session's __exit__ aborts every upload of this task: nothing is kept
            stored, sent = session.store()
        return TaskWrite(
            task_idx=task_idx, files=tuple(stored), rows=rows_total, uploaded_bytes=sent,
            seconds=time.perf_counter() - started, peak_rss_bytes=_peak_rss(), pid=os.getpid(),
        )

    def on_write_complete(self, write_result: Any) -> None:
        """Driver, after every task returned: the commit protocol (data files, the manifest, then retirements)."""
        returns = getattr(write_result, "write_returns", write_result)  # WriteResult (Ray >= 2.44) or a list
        by_task: dict[int, TaskWrite] = {}
        for item in returns:
            if isinstance(item, TaskWrite):
                # a task Ray ran again (lost output) returns the same names: keep one attempt, never both
                by_task[item.task_idx] = item
        self.tasks = [by_task[k] for k in sorted(by_task)]
        stored = sorted((f for t in self.tasks for f in t.files), key=lambda f: f.path)
        paths = [f.path for f in stored]
        if len(set(paths)) != len(paths):
            raise CommitError(
                f"Two write tasks returned the same file name under {self.base}; nothing was registered and the "
                "previous output is intact. This is a bug in hf-bucket-sink's file naming: please report it.",
                not_visible=tuple(paths), previous_intact=True,
            )
        hub = self._driver_hub()
        bucket = self.base.bucket_id
        store = None
        if self.manifest is not False:
            store = manifest_storer(hub, bucket, hub.xet_token(bucket, write=True))
        report = commit_output(
            hub, bucket, stored, directory=self.base.path,
            mode="append" if self.if_exists == "append" else "overwrite",
            manifest_fields=self._manifest_fields(), store_manifest=store, previous=self._previous,
        )
        self.report = report
        uploaded = sum(t.uploaded_bytes for t in self.tasks)
        if report.manifest_file is not None:
            uploaded += report.manifest_file.result.new_bytes
        self.result = result_of(
            report, stored, uploaded, self._started or time.perf_counter(),
            uri=str(self.base) + ("" if self.base.path else "/"),
        )
        if report.replaced_concurrent:
            logger.warning("Ray write into %s replaced a concurrent commit (%s)", self.base, report.replaced_concurrent)
        logger.info("Ray write committed: %s (%d tasks)", self.result, len(self.tasks))

    def on_write_failed(self, error: Exception) -> None:
        """Driver, when a task (or the commit) failed: register nothing more, and say what is visible."""
        self.error = error
        if isinstance(error, CommitError):
            logger.warning(
                "Ray write into %s failed during the commit: %d path(s) visible, %d not; previous output %s. %s",
                self.base, len(error.visible), len(error.not_visible),
                "intact" if error.previous_intact else "NOT intact", error,
            )
        else:
            logger.warning(
                "Ray write into %s failed before its commit (%s: %s); nothing was registered: the folder is as it "
                "was. Bytes already stored by finished tasks are not visible and are deduplicated when you run the "
                "write again.",
                self.base, type(error).__name__, error,
            )

    # -- helpers ---------------------------------------------------------------------------------------
    def _manifest_fields(self) -> dict[str, Any]:
        """The partitioned sinks' manifest description (format, schema, partitioning) for this dataset."""
        import polars as pl

        from hf_bucket_sink.polars.sinks import FORMATS as SINK_FORMATS
        from hf_bucket_sink.polars.sinks import manifest_fields

        try:
            schema = pl.from_arrow(self._schema.empty_table()).schema if self._schema is not None else pl.Schema()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - a type Polars cannot map: describe no columns rather than fail the write
            schema = pl.Schema()
        spec = types.SimpleNamespace(
            key=None, include_key=None, max_rows_per_file=None, approximate_bytes_per_file=self.target_bytes_per_file
        )
        return manifest_fields(SINK_FORMATS[self.format], schema, spec)
