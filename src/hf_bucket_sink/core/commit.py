"""The commit protocol: the one place where stored files become visible in a bucket.

Every writer (Polars sinks, partitioned sinks, Ray, the fsspec filesystem, Spark) first stores its
files in Xet (:meth:`~hf_bucket_sink.core.upload.UploadSession.store`, e.g. in tasks), then the
driver hands the :class:`StoredFile` records to ONE function, :func:`commit_output`::

    from hf_bucket_sink.core.commit import commit_output
    from hf_bucket_sink.core.upload import manifest_storer

    stored, sent = session.store()                          # in each task; nothing visible yet
    report = commit_output(
        hub, "me/b", all_stored,                            # on the driver
        directory="a/b/out/",                               # None: plain files, no commit point
        mode="overwrite",                                   # or "append"
        manifest_fields={"format": "parquet"},              # extra keys written into the manifest
        store_manifest=manifest_storer(hub, "me/b", access),
        previous=previous_manifest,                         # read_manifest() when the write started
    )
    report.visible        # exactly the paths this commit made visible (data + manifest)
    report.retired        # paths of the previous output removed after the commit point

The protocol for a directory output (docs/commit-protocol.md has the timeline):

1. data lines in ``/batch`` requests of at most :data:`~hf_bucket_sink.core.hub.BATCH_LIMIT`;
   each response's per-line report is checked (a 200 with failed lines is a failure) and a lost
   response (connection error, timeout, 5xx) is confirmed with ``paths-info`` before deciding;
2. the current manifest is re-read: if it changed since ``previous`` (a concurrent commit), that
   one's files are retired too and the report says so (``report.replaced_concurrent``);
3. the commit point: the manifest (beside the directory, :func:`~hf_bucket_sink.core.manifest.manifest_path`)
   stored, then registered alone in its own request; it lists every file at its Xet hash and the
   paths still to retire;
4. retirements: files the previous committed output listed and this one does not rewrite (and
   the previous release's inner ``_manifest.json``) are deleted. A failure here does not fail the
   commit: they stay listed under ``retire`` and the next writer finishes the job.

Nothing of the previous output is deleted before step 3. Any failure before or at step 3 raises
one :class:`~hf_bucket_sink.CommitError` with ``.visible``, ``.not_visible`` and
``.previous_intact``; a rerun finishes the job cheaply (the bytes are already in Xet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hf_bucket_sink.core.hub import BATCH_LIMIT, FileRegistration, HubClient, now_ms
from hf_bucket_sink.core.manifest import (
    Manifest,
    ManifestFile,
    legacy_manifest_path,
    manifest_path,
    normalize_directory,
    read_manifest,
)
from hf_bucket_sink.core.result import FileResult
from hf_bucket_sink.errors import CommitError, InvalidOptionError

__all__ = [
    "StoredFile",
    "Deletion",
    "CommitReport",
    "ManifestStorer",
    "UNREAD",
    "commit_output",
    "register",
    "read_manifest",
]

logger = logging.getLogger("hf_bucket_sink")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file whose bytes and shard are stored in Xet but which is not registered in the bucket.

    Produced by :meth:`UploadSession.store` (e.g. in a Ray or Spark task) and registered by
    :func:`commit_output` (e.g. on the driver); :meth:`registration` is its ``/batch`` line.
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


#: stores the manifest's bytes in Xet at the given bucket path (registering nothing)
ManifestStorer = Callable[[str, bytes], StoredFile]


class _Unread:
    def __repr__(self) -> str:
        return "UNREAD"


#: ``previous=UNREAD``: :func:`commit_output` reads the previous manifest itself (no concurrency check)
UNREAD: Any = _Unread()


@dataclass(frozen=True)
class CommitReport:
    """What a commit made visible (``visible``, confirmed) and removed (``retired``).

    ``manifest`` is the commit point's path (None without one), ``manifest_file`` its stored
    record; ``retire_pending`` paths could not be deleted yet (listed in the manifest, the next
    writer retires them); ``replaced_concurrent`` is the commit id of a concurrent writer's
    manifest this commit replaced; ``unlisted`` are data files this commit made visible that no
    manifest lists (``manifest=False`` outputs list none).
    """

    bucket_id: str
    visible: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    manifest: str | None = None
    manifest_file: StoredFile | None = None
    requests: int = 0
    retire_pending: tuple[str, ...] = ()
    replaced_concurrent: str | None = None
    previous: Manifest | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deleted(self) -> tuple[str, ...]:  # the previous name
        return self.retired


# -- one request, confirmed -------------------------------------------------------------------------


def _send(hub: HubClient, bucket_id: str, lines: Sequence[Any]) -> tuple[list[str], dict[str, str]]:
    """One ``/batch`` request; returns (applied paths, failed path -> reason), confirmed when the answer is lost."""
    outcome = hub.batch(bucket_id, lines)
    if outcome.lost is None:
        applied = [line.path for line in lines if line.path not in outcome.failed]
        return applied, dict(outcome.failed)
    # the Hub may have applied any subset: ask it what each path now is
    logger.warning("%s; checking which of %d line(s) were applied", outcome.lost, len(lines))
    found = {str(e.get("path")): e for e in hub.paths_info(bucket_id, [line.path for line in lines])}
    applied, failed = [], {}
    for line in lines:
        entry = found.get(line.path)
        if isinstance(line, FileRegistration):
            done = entry is not None and entry.get("xetHash") == line.xet_hash
        else:
            done = entry is None
        if done:
            applied.append(line.path)
        else:
            failed[line.path] = outcome.lost
    return applied, failed


def _register_all(
    hub: HubClient, bucket_id: str, lines: Sequence[Any], visible: list[str], counter: list[int]
) -> dict[str, str]:
    """Send ``lines`` in batches, appending applied paths to ``visible``; stops at the first failed batch."""
    for start in range(0, len(lines), BATCH_LIMIT):
        chunk = lines[start : start + BATCH_LIMIT]
        applied, failed = _send(hub, bucket_id, chunk)
        counter[0] += 1
        visible.extend(applied)
        if failed:
            return failed
    return {}


def _reasons(failed: Mapping[str, str]) -> str:
    shown = "; ".join(f"{p}: {r}" for p, r in list(failed.items())[:5])
    return shown + (f" (and {len(failed) - 5} more)" if len(failed) > 5 else "")


def _commit_error(
    bucket_id: str,
    what: str,
    failed: Mapping[str, str],
    visible: Sequence[str],
    all_paths: Sequence[str],
    *,
    previous_intact: bool,
    previous_note: str,
) -> CommitError:
    shown_visible = set(visible)
    not_visible = tuple(p for p in all_paths if p not in shown_visible)
    message = (
        f"Committing {what} in {bucket_id!r} failed: {_reasons(failed)}. "
        f"Now visible from this commit: {len(visible)} path(s)"
        + (f" (e.g. {', '.join(list(visible)[:3])})" if visible else "")
        + f"; not visible: {len(not_visible)} path(s)"
        + (f" (e.g. {', '.join(not_visible[:3])})" if not_visible else "")
        + f". {previous_note} Run the same write again to finish it: the bytes are already stored in Xet, "
        "so only the registration is redone (about 0 new bytes sent)."
    )
    return CommitError(message, visible=tuple(visible), not_visible=not_visible, previous_intact=previous_intact)


# -- the entry point -------------------------------------------------------------------------------


def commit_output(
    hub: HubClient,
    bucket_id: str,
    files: Sequence[StoredFile],
    *,
    directory: str | None = None,
    mode: Literal["overwrite", "append"] = "overwrite",
    manifest_fields: Mapping[str, Any] | None = None,
    store_manifest: ManifestStorer | None = None,
    previous: Manifest | None = UNREAD,
) -> CommitReport:
    """Make ``files`` visible as one output; the commit point is the manifest beside ``directory``.

    * ``directory=None``: plain files (single-file sinks, ``manifest=False`` outputs): registered in
      batches, every line confirmed; no commit point, so more than :data:`BATCH_LIMIT` files are
      not atomic. ``mode`` and ``store_manifest`` are ignored.
    * ``directory="a/b/out/"`` with ``store_manifest``: the protocol of this module's docstring.
      ``mode="overwrite"`` replaces the previous output (its files not rewritten are retired
      after the commit point); ``"append"`` keeps them and lists old and new files together.
      Every file must lie under ``directory``.
    * ``directory`` without ``store_manifest``: no commit point, but ``mode="overwrite"`` still
      retires, after the data is registered, the files the previous manifest listed and this
      output does not rewrite, and the previous manifest itself (it would describe other files).
    * ``previous``: the manifest as read (:func:`read_manifest`) when the write started; a
      different manifest found just before the commit point is a concurrent commit, replaced
      whole. Default: read now (no concurrency detection).

    Raises :class:`~hf_bucket_sink.CommitError` (``.visible``, ``.not_visible``, ``.previous_intact``)
    when a data line or the manifest cannot be confirmed registered.
    """
    if mode not in ("overwrite", "append"):
        raise InvalidOptionError(f"mode must be 'overwrite' or 'append', not {mode!r}.")
    files = sorted(files, key=lambda f: f.path)
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise InvalidOptionError("Two stored files have the same path; each path can be committed once.")
    mtime = now_ms()
    visible: list[str] = []
    counter = [0]
    if directory is None:
        failed = _register_all(hub, bucket_id, [f.registration(mtime) for f in files], visible, counter)
        if failed:
            raise _commit_error(
                bucket_id, f"{len(files)} file(s)", failed, visible, paths, previous_intact=not visible,
                previous_note=("Files previously at those paths are unchanged." if not visible else
                               "Files at the visible paths were replaced; the others are unchanged."),
            )
        return CommitReport(bucket_id, tuple(visible), requests=counter[0])

    directory = normalize_directory(directory)
    outside = [p for p in paths if not p.startswith(directory)]
    if outside:
        raise InvalidOptionError(f"{outside[0]!r} is not inside the output directory {directory!r}.")
    start_manifest = read_manifest(hub, bucket_id, directory) if previous is UNREAD else previous
    location = manifest_path(directory)

    # 1. data lines (nothing deleted yet)
    failed = _register_all(hub, bucket_id, [f.registration(mtime) for f in files], visible, counter)
    if failed:
        raise _commit_error(
            bucket_id, f"the output {directory or '(bucket root)'}", failed, visible, paths + [location],
            previous_intact=True,
            previous_note=(
                "The commit point was not written: a reader following the manifest still sees the previous "
                "version whole (at its Xet hashes); a reader listing the directory may see the visible new files."
            ),
        )

    # 2. re-read the commit point: a concurrent writer may have committed since we started
    current = read_manifest(hub, bucket_id, directory)
    replaced: str | None = None
    if _changed(start_manifest, current):
        replaced = current.commit_id if current is not None else None
        logger.warning(
            "a concurrent commit of %s (%s) was made while this output was written; it is replaced whole",
            directory, replaced or "its manifest was removed",
        )
    new_paths = set(paths)
    listed = list(files)
    retire: set[str] = set()
    for old in {id(m): m for m in (start_manifest, current) if m is not None}.values():
        retire.update(old.retire)
        if mode == "overwrite" or old is not start_manifest:
            retire.update(old.paths)
        if old.location and old.location != location:
            retire.add(old.location)  # the previous release's inner manifest
    legacy = legacy_manifest_path(directory)
    if legacy != location:
        retire.add(legacy)
    manifest_files = [ManifestFile(f.path, f.result.size, f.result.xet_hash, f.result.rows) for f in files]
    if mode == "append" and start_manifest is not None:
        kept = [f for f in start_manifest.files if f.path not in new_paths]
        manifest_files += kept
        retire -= {f.path for f in kept}
    retire -= new_paths
    retire.discard(location)
    # only what exists is still to retire (keeps the list from growing across commits)
    existing = {str(e.get("path")) for e in hub.paths_info(bucket_id, sorted(retire))} if retire else set()
    retire_now = sorted(retire & existing)

    # 3. the commit point
    manifest_record: StoredFile | None = None
    if store_manifest is not None:
        manifest = Manifest.new(directory, manifest_files, retire_now, manifest_fields)
        manifest_record = store_manifest(location, manifest.to_bytes())
        applied, failed = _send(hub, bucket_id, [manifest_record.registration(mtime)])
        counter[0] += 1
        if failed:
            raise _commit_error(
                bucket_id, f"the output {directory or '(bucket root)'}", failed, visible, paths + [location],
                previous_intact=True,
                previous_note=(
                    "The commit point (manifest) was not written: a reader following the manifest still sees "
                    "the previous version whole; all new data files are registered."
                ),
            )
        visible.extend(applied)

    # 4. retirements, after the commit point; a failure leaves them listed for the next writer
    retired: list[str] = []
    pending: tuple[str, ...] = ()
    if retire_now:
        failed = _register_all(hub, bucket_id, [Deletion(p) for p in retire_now], retired, counter)
        if failed:
            pending = tuple(p for p in retire_now if p not in set(retired))
            logger.warning(
                "the output %s is committed, but %d file(s) of the previous version could not be removed yet (%s); "
                "they are listed in the manifest and the next write retires them",
                directory, len(pending), _reasons(failed),
            )
    return CommitReport(
        bucket_id, tuple(visible), tuple(retired), location if manifest_record is not None else None,
        manifest_record, counter[0], pending, replaced, start_manifest,
    )


def _changed(before: Manifest | None, now: Manifest | None) -> bool:
    if before is None or now is None:
        return (before is None) != (now is None)
    return (before.location, before.location_hash) != (now.location, now.location_hash)


def register(
    hub: HubClient,
    bucket_id: str,
    files: Sequence[StoredFile],
    *,
    manifest: StoredFile | None = None,
    delete_first: Sequence[str] = (),
) -> CommitReport:
    """Plain registration without a commit point (kept for callers of the previous release).

    ``delete_first`` and ``manifest`` are still honoured in the old order; new code calls
    :func:`commit_output`, which never deletes before the commit point.
    """
    mtime = now_ms()
    visible: list[str] = []
    counter = [0]
    lines: list[Any] = [Deletion(p) for p in delete_first] + [f.registration(mtime) for f in sorted(files, key=lambda f: f.path)]
    if manifest is not None:
        lines_manifest: list[Any] = [manifest.registration(mtime)]
    failed = _register_all(hub, bucket_id, lines, visible, counter)
    if not failed and manifest is not None:
        failed = _register_all(hub, bucket_id, lines_manifest, visible, counter)
    if failed:
        all_paths = [line.path for line in lines] + ([manifest.path] if manifest is not None else [])
        raise _commit_error(bucket_id, f"{len(files)} file(s)", failed, visible, all_paths,
                            previous_intact=not visible, previous_note="")
    deleted = tuple(p for p in visible if p in set(delete_first))
    return CommitReport(
        bucket_id, tuple(p for p in visible if p not in set(delete_first)), deleted,
        manifest.path if manifest is not None else None, manifest, counter[0],
    )
