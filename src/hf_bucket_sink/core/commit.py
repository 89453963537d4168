"""The commit protocol: the one place where stored files become visible in a bucket.

Every writer (Polars sinks, partitioned sinks, Ray, the fsspec filesystem, Spark) first stores its
files in Xet (:meth:`~hf_bucket_sink.core.upload.UploadSession.store`), then hands the
:class:`StoredFile` records here::

    stored, sent = session.store()
    report = register(hub, "me/b", stored, manifest=manifest_file, delete_first=["old/_manifest.json"])
    report.visible          # exactly the paths that are now registered by this call

Registration uses the Hub's ``/batch`` API (at most :data:`~hf_bucket_sink.core.hub.BATCH_LIMIT`
lines a request, in path order); the manifest, when there is one, is registered alone in a final
request, so its presence means every file before it is there. docs/commit-protocol.md describes
the protocol, what a reader sees at each step and what a failure at each step leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hf_bucket_sink.core.hub import BATCH_LIMIT, FileRegistration, HubClient, now_ms
from hf_bucket_sink.core.result import FileResult
from hf_bucket_sink.errors import CommitError

__all__ = ["StoredFile", "Deletion", "CommitReport", "register"]

logger = logging.getLogger("hf_bucket_sink")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file whose bytes and shard are stored in Xet but which is not registered in the bucket.

    Produced by :meth:`UploadSession.store` (e.g. in a Ray or Spark task) and registered by
    :func:`register` (e.g. on the driver); :meth:`registration` is its ``/batch`` line.
    Picklable, and holds no credential.
    """

    path: str  # inside the bucket
    content_type: str
    result: FileResult

    def registration(self, mtime_ms: int) -> FileRegistration:
        return FileRegistration(self.path, self.result.xet_hash, mtime_ms, self.content_type)


@dataclass(frozen=True, slots=True)
class Deletion:
    """A ``deleteFile`` line of a ``/batch`` call."""

    path: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "deleteFile", "path": self.path}


@dataclass(frozen=True)
class CommitReport:
    """What a :func:`register` call made visible (``visible``) and removed (``deleted``), in order."""

    bucket_id: str
    visible: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    manifest: str | None = None
    requests: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def register(
    hub: HubClient,
    bucket_id: str,
    files: Sequence[StoredFile],
    *,
    manifest: StoredFile | None = None,
    delete_first: Sequence[str] = (),
) -> CommitReport:
    """Register ``files`` (path order), deleting ``delete_first`` in the first request, then ``manifest`` alone.

    Raises :class:`~hf_bucket_sink.CommitError` when a request fails; its ``visible`` attribute lists
    the paths registered by the requests that had succeeded before it.
    """
    mtime = now_ms()
    lines: list[Any] = [Deletion(p) for p in delete_first]
    lines += [f.registration(mtime) for f in sorted(files, key=lambda f: f.path)]
    visible: list[str] = []
    deleted: list[str] = []
    requests = 0
    try:
        for start in range(0, len(lines), BATCH_LIMIT):
            chunk = lines[start : start + BATCH_LIMIT]
            hub.register_files(bucket_id, chunk)
            requests += 1
            visible += [line.path for line in chunk if isinstance(line, FileRegistration)]
            deleted += [line.path for line in chunk if isinstance(line, Deletion)]
        if manifest is not None:
            hub.register_files(bucket_id, [manifest.registration(mtime)])
            requests += 1
            visible.append(manifest.path)
    except CommitError as exc:
        exc.visible = tuple(visible)  # type: ignore[attr-defined]
        raise
    return CommitReport(
        bucket_id, tuple(visible), tuple(deleted), manifest.path if manifest is not None else None, requests
    )
