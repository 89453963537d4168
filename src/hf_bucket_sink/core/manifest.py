"""The manifest: the commit point of a directory output, engine-neutral.

A directory output ``a/b/out/`` is committed by one file *beside* it, ``a/b/_out.manifest.json``
(:func:`manifest_path`), so that ``pl.scan_parquet("hf://…/a/b/out/")`` and globs such as
``a/b/out/**/*.parquet`` never see it; the leading ``_`` makes pyarrow, Spark and Hive skip it in
a scan of the parent. An output at the bucket root has no "beside": its manifest is
``_manifest.json`` at the root (docs/commit-protocol.md). The previous release wrote
``out/_manifest.json`` inside the directory (:func:`legacy_manifest_path`); it is read as a
previous commit point and retired by the next commit.

Readers follow it with :func:`read_manifest`::

    m = read_manifest(hub, "me/b", "a/b/out/")
    if m is not None:
        for f in m.files:            # exactly the committed files, at their Xet hashes
            f.path, f.size, f.xet_hash, f.rows
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.errors import BucketFileNotFoundError, HubResponseError

__all__ = [
    "MANIFEST_VERSION",
    "LEGACY_MANIFEST_NAME",
    "ManifestFile",
    "Manifest",
    "manifest_path",
    "legacy_manifest_path",
    "read_manifest",
    "read_left_over",
    "normalize_directory",
]

logger = logging.getLogger("hf_bucket_sink")

#: version 2: the manifest lives beside the directory and records ``retire`` and ``commit_id``
MANIFEST_VERSION = 2
#: name of the manifest the previous release wrote inside a directory output
LEGACY_MANIFEST_NAME = "_manifest.json"


def normalize_directory(directory: str) -> str:
    """``"a/b/out"`` or ``"a/b/out/"`` -> ``"a/b/out/"``; ``""`` or ``"/"`` -> ``""`` (the bucket root)."""
    directory = directory.strip("/")
    return directory + "/" if directory else ""


def manifest_path(directory: str) -> str:
    """Where the commit point of ``directory`` lives: ``a/b/out/`` -> ``a/b/_out.manifest.json``; root -> ``_manifest.json``."""
    directory = normalize_directory(directory)
    if not directory:
        return LEGACY_MANIFEST_NAME
    parent, _, name = directory[:-1].rpartition("/")
    return (parent + "/" if parent else "") + f"_{name}.manifest.json"


def legacy_manifest_path(directory: str) -> str:
    """The previous release's manifest inside the directory (``a/b/out/_manifest.json``)."""
    return normalize_directory(directory) + LEGACY_MANIFEST_NAME


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One committed file: ``path`` inside the bucket, its ``size``, ``xet_hash`` and ``rows`` (None if unknown)."""

    path: str
    size: int
    xet_hash: str
    rows: int | None = None


@dataclass(frozen=True)
class Manifest:
    """A committed directory output: exactly ``files``; ``retire`` are paths still to delete.

    ``location`` is the manifest's own path and ``location_hash`` its Xet hash when read from the
    bucket (a writer compares it to detect a concurrent commit).
    """

    directory: str
    files: tuple[ManifestFile, ...]
    retire: tuple[str, ...] = ()
    commit_id: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    location: str = ""
    location_hash: str | None = None
    #: path in ``retire`` -> the Xet hash it held when it was listed (a later writer deletes it only then)
    retire_hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.files)

    def to_bytes(self) -> bytes:
        """The JSON body (paths relative to the directory, as version 1 did)."""
        rows = [f.rows for f in self.files]
        body: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "directory": self.directory,
            "commit_id": self.commit_id,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "file_count": len(self.files),
            "total_bytes": sum(f.size for f in self.files),
            "total_rows": None if any(r is None for r in rows) else sum(r for r in rows if r is not None),
            **{k: v for k, v in self.fields.items() if k not in _RESERVED},
            "files": [
                {"path": _relative(f.path, self.directory), "size": f.size, "xetHash": f.xet_hash, "rows": f.rows}
                for f in self.files
            ],
            "retire": [
                {"path": _relative(p, self.directory), "xetHash": self.retire_hashes[p]} if self.retire_hashes.get(p)
                else _relative(p, self.directory)
                for p in self.retire
            ],
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def new(
        cls,
        directory: str,
        files: Sequence[ManifestFile],
        retire: Sequence[str] = (),
        fields: Mapping[str, Any] | None = None,
        retire_hashes: Mapping[str, str | None] | None = None,
    ) -> Manifest:
        directory = normalize_directory(directory)
        return cls(
            directory, tuple(sorted(files, key=lambda f: f.path)), tuple(sorted(set(retire))), uuid.uuid4().hex,
            dict(fields or {}), manifest_path(directory),
            retire_hashes={p: h for p, h in (retire_hashes or {}).items() if h},
        )

    @classmethod
    def from_bytes(cls, data: bytes, directory: str, *, location: str = "", location_hash: str | None = None) -> Manifest:
        directory = normalize_directory(directory)
        try:
            body = json.loads(data)
            files = tuple(
                ManifestFile(
                    directory + str(item["path"]), int(item["size"]), str(item["xetHash"]),
                    None if item.get("rows") is None else int(item["rows"]),
                )
                for item in body["files"]
            )
            # a retire entry is a path, or {"path", "xetHash"}: the bytes it held when it was listed
            entries = [p if isinstance(p, dict) else {"path": p} for p in body.get("retire", ())]
            retire = tuple(directory + str(e["path"]) for e in entries)
            retire_hashes = {directory + str(e["path"]): str(e["xetHash"]) for e in entries if e.get("xetHash")}
        except (ValueError, KeyError, TypeError) as exc:
            raise HubResponseError(
                f"The manifest {location or directory!r} cannot be read ({exc}): it was not written by hf-bucket-sink "
                "or is damaged. Delete it (the data files stay) and write the output again."
            ) from exc
        fields = {k: v for k, v in body.items() if k not in _RESERVED}
        return cls(directory, files, retire, str(body.get("commit_id", "")), fields, location, location_hash, retire_hashes)


_RESERVED = frozenset(
    {"version", "directory", "commit_id", "created_at", "file_count", "total_bytes", "total_rows", "files", "retire", "uri"}
)


def _relative(path: str, directory: str) -> str:
    if not path.startswith(directory):
        raise ValueError(f"{path!r} is not inside the output directory {directory!r}")
    return path[len(directory) :]


def read_manifest(hub: HubClient, bucket_id: str, directory: str) -> Manifest | None:
    """The committed manifest of ``directory`` (beside it, or the previous release's inside it), or None.

    When both exist, the one beside the directory is the commit point (the inner one is an older
    version's left-over, retired by the next commit).
    """
    directory = normalize_directory(directory)
    candidates = [manifest_path(directory)]
    if legacy_manifest_path(directory) not in candidates:
        candidates.append(legacy_manifest_path(directory))
    for _attempt in range(_READ_ATTEMPTS):
        found = {str(e.get("path")): e for e in hub.paths_info(bucket_id, candidates)}
        for location in candidates:
            entry = found.get(location)
            if entry is None:
                continue
            data = _read_version(hub, bucket_id, location, entry)
            if data is None:
                break  # replaced (or removed) since paths-info: look again
            if location != manifest_path(directory) and not _written_by_us(data):
                # a _manifest.json inside the directory that no release of ours wrote: the user's own file
                logger.debug("%s is not a manifest of ours; the directory has no commit point", location)
                continue
            return Manifest.from_bytes(data, directory, location=location, location_hash=entry.get("xetHash"))
        else:
            return None
    raise HubResponseError(
        f"The commit point of {directory!r} in {bucket_id!r} changed {_READ_ATTEMPTS} times while it was being read: "
        "another writer is committing this output right now. Retry in a moment."
    )


#: reads of a commit point that a concurrent commit keeps replacing, before giving up
_READ_ATTEMPTS = 5


def _read_version(hub: HubClient, bucket_id: str, location: str, entry: Mapping[str, Any]) -> bytes | None:
    """The bytes of the version ``entry`` (a paths-info entry) names, or None once the path holds another one."""
    size, xet_hash = int(entry.get("size") or 0), entry.get("xetHash")
    try:
        data = hub.read_range(bucket_id, location, 0, size, xet_hash=xet_hash)
        if data is not None or xet_hash is None:
            return data
        # the Hub did not name the version it served, or served another: ask again which one is there
        now = hub.paths_info(bucket_id, [location])
        if not now or now[0].get("xetHash") != xet_hash:
            return None
        return hub.read_range(bucket_id, location, 0, size)
    except BucketFileNotFoundError:  # removed since paths-info
        return None
    except HubResponseError:
        # a size mismatch: replaced between paths-info and the read
        now = hub.paths_info(bucket_id, [location])
        if not now or now[0].get("xetHash") != xet_hash:
            return None
        raise


def read_left_over(hub: HubClient, bucket_id: str, directory: str) -> Manifest | None:
    """The previous release's inner ``dir/_manifest.json`` when it is one of ours (a commit retires it), else None.

    A ``_manifest.json`` that no release of ours wrote is the user's file and is never retired.
    """
    location = legacy_manifest_path(directory)
    if location == manifest_path(directory):
        return None
    found = hub.paths_info(bucket_id, [location])
    if not found:
        return None
    data = _read_version(hub, bucket_id, location, found[0])
    if data is None or not _written_by_us(data):
        return None
    return Manifest.from_bytes(data, directory, location=location, location_hash=found[0].get("xetHash"))


def _written_by_us(data: bytes) -> bool:
    try:
        body = json.loads(data)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("version"), int) and isinstance(body.get("files"), list) and all(
        isinstance(f, dict) for f in body["files"]
    )
