"""A read-only ``pyarrow.fs`` filesystem over bucket files, for ``ray.data.read_*(…, filesystem=…)``.

Picklable without a token: each process (the driver, every Ray worker) resolves its own
credentials and reads by ranged ``GET …/resolve/…`` requests through
:class:`~hf_bucket_sink.core.remote_file.RemoteFile`, the scans' reader.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow.fs as pafs

from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.core.hub import HubClient

__all__ = ["BucketFileSystemHandler", "bucket_filesystem"]


class BucketFileSystemHandler(pafs.FileSystemHandler):  # type: ignore[misc]
    """A read-only pyarrow filesystem handler over bucket files, picklable without a token.

    Paths are ``<namespace>/<bucket>/<path>``. Each process resolves its own credentials (as the
    datasink's workers do) and reads with ranged ``GET …/resolve/…`` requests (the scan path's
    ``RemoteFile``). Known files (from the driver's listing) need no lookup; others are looked up.
    Wrap it with :func:`bucket_filesystem` to get a ``pyarrow.fs.PyFileSystem``.
    """

    def __init__(
        self, entries: Iterable[Any] = (), *, endpoint: str | None = None, token_provider: Callable[[], str] | None = None
    ) -> None:
        self._entries = {f"{e.bucket_id}/{e.path}": e for e in entries}
        self._endpoint = endpoint
        self._token_provider = token_provider
        self._transport: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_transport"] = None  # holds a HubClient with the token: never pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # unpickled in a Ray worker, before Ray's listing threads check this filesystem
        _settle_fsspec_http_import()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BucketFileSystemHandler) and other._endpoint == self._endpoint and other._entries == self._entries

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def _hub(self) -> HubClient:
        from hf_bucket_sink.core.remote_file import ResolveRanges

        if self._transport is None:
            options: dict[str, Any] = {"endpoint": self._endpoint} if self._endpoint else {}
            if self._token_provider is not None:
                options["token"] = self._token_provider()
            self._transport = ResolveRanges(HubClient(resolve_credentials(options)))
        return self._transport.hub  # type: ignore[no-any-return]

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        parts = path.strip("/").split("/", 2)
        if len(parts) < 2:
            raise FileNotFoundError(f"{path!r} is not <namespace>/<bucket>/<path>")
        return f"{parts[0]}/{parts[1]}", parts[2] if len(parts) == 3 else ""

    def _entry(self, path: str) -> Any:
        from hf_bucket_sink.errors import BucketFileNotFoundError
        from hf_bucket_sink.core.remote_file import RemoteEntry

        entry = self._entries.get(path)
        if entry is None:
            bucket, key = self._split(path)
            found = [i for i in self._hub().paths_info(bucket, [key]) if i.get("type", "file") == "file"]
            if not found:
                raise BucketFileNotFoundError(f"hf://buckets/{path} was not found.")
            entry = self._entries[path] = RemoteEntry.from_listing(bucket, found[0])
        return entry

    # pyarrow.fs.FileSystemHandler
    def get_type_name(self) -> str:
        return "hf-buckets"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[Any]:
        infos = []
        for p in paths:
            try:
                infos.append(pafs.FileInfo(p, pafs.FileType.File, size=self._entry(p).size))
            except FileNotFoundError:
                infos.append(pafs.FileInfo(p, pafs.FileType.Directory if self._is_dir(p) else pafs.FileType.NotFound))
        return infos

    def _is_dir(self, path: str) -> bool:
        """A folder exists in a bucket when some file lives under it (buckets have no empty folders)."""
        try:
            bucket, key = self._split(path)
        except FileNotFoundError:
            return False
        prefix = key.rstrip("/") + "/" if key else ""
        return next(iter(self._hub().list_tree(bucket, prefix, recursive=False)), None) is not None

    def get_file_info_selector(self, selector: Any) -> list[Any]:
        from hf_bucket_sink.core.remote_file import RemoteEntry

        bucket, key = self._split(selector.base_dir)
        prefix = key.rstrip("/") + "/" if key else ""
        infos = []
        for item in self._hub().list_tree(bucket, prefix, recursive=selector.recursive):
            path = f"{bucket}/{item['path']}"
            if item.get("type") == "directory":
                infos.append(pafs.FileInfo(path, pafs.FileType.Directory))
            else:
                entry = self._entries.setdefault(path, RemoteEntry.from_listing(bucket, item))
                infos.append(pafs.FileInfo(path, pafs.FileType.File, size=entry.size))
        return infos

    def open_input_file(self, path: str) -> Any:
        import pyarrow as pa

        from hf_bucket_sink.core.remote_file import RemoteFile

        entry = self._entry(path)
        self._hub()
        return pa.PythonFile(RemoteFile(entry, self._transport), mode="r")

    def open_input_stream(self, path: str) -> Any:
        return self.open_input_file(path)

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        import pyarrow as pa

        raise pa.ArrowNotImplementedError("hf://buckets reads through this filesystem are read-only; write with BucketDatasink")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


def bucket_filesystem(
    entries: Iterable[Any] = (), *, endpoint: str | None = None, token_provider: Callable[[], str] | None = None
) -> Any:
    """A ``pyarrow.fs.PyFileSystem`` over buckets for ``ray.data.read_*(paths, filesystem=...)``.

    >>> fs = bucket_filesystem(endpoint="https://huggingface.co")
    >>> ray.data.read_parquet("me/b/out/", filesystem=fs)      # paths without hf://buckets/
    """
    _settle_fsspec_http_import()
    return pafs.PyFileSystem(BucketFileSystemHandler(entries, endpoint=endpoint, token_provider=token_provider))


def _settle_fsspec_http_import() -> None:
    """Work around a race in Ray Data's threaded file listing (seen with Ray 2.60).

    Ray checks every path with ``from fsspec.implementations.http import HTTPFileSystem`` and
    treats ``ModuleNotFoundError`` as "no HTTP filesystem". Without ``aiohttp`` that import fails,
    and when several listing threads try it at once some get a half-initialised module and an
    ``ImportError`` that Ray does not catch (4 files were enough; on the driver and in the
    workers' ListFiles tasks). Called where our filesystem is built or unpickled: if the import fails, mark
    the module as absent (``None`` in ``sys.modules``) so every later attempt fails the same,
    caught way. Nothing changes when aiohttp is installed.
    """
    name = "fsspec.implementations.http"
    if name in sys.modules:
        return
    try:
        __import__(name)
    except ModuleNotFoundError:
        sys.modules[name] = None  # type: ignore[assignment]
    except ImportError:  # some other breakage: leave it to Ray
        pass
