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
   one's files are retired too and the report says so (``report.replaced_concurrent``); the new
   manifest is built and stored, and the commit point is checked once more (``paths-info``) right
   before it is registered — if it moved, this step is redone;
3. the commit point: the manifest (beside the directory, :func:`~hf_bucket_sink.core.manifest.manifest_path`)
   registered alone in its own request; it lists every file at its Xet hash and the paths still
   to retire, each with the hash it held;
4. retirements: files the previous committed output listed and this one does not rewrite (and
   the previous release's inner ``_manifest.json``) are deleted — only while the commit point is
   still ours (checked before each request) and only where the path still holds the bytes the
   retired output listed. A failure here does not fail the commit: they stay listed under
   ``retire`` and the next writer finishes the job;
5. the last check, after waiting twice the time our own check-then-register took: if another
   writer's commit point replaced ours (it checked before we registered), we lost — last commit
   wins whole. Our files it does not list are deleted while they hold our bytes (the rest are
   ``report.unlisted``), paths it lists that we touched are pointed back at its bytes, and
   ``report.superseded_by`` names it. A winner that saw the commit point move points its own
   paths back at its bytes (a concurrent writer's data lines may have landed after its own).

Nothing of the previous output is deleted before step 3. Any failure before or at step 3 raises
one :class:`~hf_bucket_sink.CommitError` with ``.visible``, ``.not_visible`` and
``.previous_intact``; before raising, the new paths it made visible that held nothing before (and
still hold its bytes, listed by no commit point) are taken back, so ``.visible`` is what remains
(paths that replaced existing files, or that could not be taken back). A rerun finishes the job
cheaply (the bytes are already in Xet).

What the Hub cannot give (no conditional write): every check above is followed by its write one
round trip later, so two writers whose checks and writes interleave inside that round trip can
still both act on a stale view; docs/commit-protocol.md says what a reader can then see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hf_bucket_sink.core.hub import BATCH_LIMIT, FileRegistration, HubClient, content_type_for, now_ms
from hf_bucket_sink.core.manifest import (
    Manifest,
    ManifestFile,
    legacy_manifest_path,
    manifest_path,
    normalize_directory,
    read_left_over,
    read_manifest,
)
from hf_bucket_sink.core.result import FileResult
from hf_bucket_sink.errors import BucketSinkError, CommitError, InvalidOptionError

__all__ = [
    "StoredFile",
    "Deletion",
    "CommitReport",
    "ManifestStorer",
    "UNREAD",
    "commit_output",
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
    manifest this commit replaced.

    ``superseded_by``: the commit id of a concurrent writer whose commit point replaced this one
    right after it (last commit wins whole); this commit's files that manifest does not list were
    removed again, and ``unlisted`` names those that could not be (visible, listed by no manifest).
    ``untracked``: files under the directory that no commit point listed when this overwrite
    started (an output of the 0.1 release, or the user's own files): left alone.
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
    superseded_by: str | None = None
    unlisted: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()

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
    try:
        found = {str(e.get("path")): e for e in hub.paths_info(bucket_id, [line.path for line in lines])}
    except BucketSinkError as exc:
        # neither the answer nor a listing: these lines may or may not be applied
        raise _Unconfirmed([line.path for line in lines], f"{outcome.lost}; and checking failed too ({exc})") from exc
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


class _Unconfirmed(Exception):
    """Lines whose outcome is unknown: the answer was lost and paths-info failed too."""

    def __init__(self, paths: list[str], reason: str) -> None:
        super().__init__(reason)
        self.paths = paths
        self.reason = reason


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
        try:
            failed = _register_all(hub, bucket_id, [f.registration(mtime) for f in files], visible, counter)
        except _Unconfirmed as exc:
            failed = {p: exc.reason + " (outcome unknown: it may be visible)" for p in exc.paths}
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
    ours = {f.path: f.result.xet_hash for f in files}

    # paths that hold nothing yet: if the commit fails before its commit point, they are taken
    # back (only while they still hold our bytes), so a rerun under new names leaves no orphan
    existed = {str(e.get("path")) for e in hub.paths_info(bucket_id, paths)} if paths else set()
    untracked: tuple[str, ...] = ()
    if start_manifest is None and mode == "overwrite" and directory:
        # an output without a commit point (the 0.1 release wrote none at <= 1,000 files) or the
        # user's own files: nothing says they are ours, so an overwrite leaves them, and says so
        known = set(paths) | {location, legacy_manifest_path(directory)}
        untracked = tuple(
            str(e.get("path")) for e in hub.list_tree(bucket_id, directory, recursive=True)
            if e.get("type", "file") != "directory" and str(e.get("path")) not in known
        )

    # 1. data lines (nothing deleted yet)
    unknown = ""
    try:
        failed = _register_all(hub, bucket_id, [f.registration(mtime) for f in files], visible, counter)
    except _Unconfirmed as exc:
        failed = {p: exc.reason for p in exc.paths}
        unknown = f" {len(exc.paths)} of the paths not listed as visible may be visible too (their outcome is unknown)."
    if failed:
        _take_back(hub, bucket_id, directory, visible, existed, ours, counter)
        raise _commit_error(
            bucket_id, f"the output {directory or '(bucket root)'}", failed, visible, paths + [location],
            previous_intact=True,
            previous_note=(
                "The commit point was not written: a reader following the manifest still sees the previous "
                "version whole (at its Xet hashes); a reader listing the directory may see the visible new files "
                "(new paths were taken back where the Hub allowed; the visible ones replaced files at existing paths "
                "or could not be taken back)." + unknown
            ),
        )

    # 2. the commit point as it is now (a concurrent writer may have committed since we started),
    # the manifest built and stored, then the commit point checked once more right before it is
    # replaced: the Hub has no conditional write, so this check-then-register is kept as short as
    # one paths-info round trip (the manifest is stored before the check, not after it)
    manifest_record: StoredFile | None = None
    replaced: str | None = None
    seen_change = False
    try:
        for _attempt in range(_POINT_CHECKS):
            point = _point(hub, bucket_id, directory)
            current = read_manifest(hub, bucket_id, directory)
            if _changed(start_manifest, current):
                seen_change = True
                replaced = current.commit_id if current is not None else None
                logger.warning(
                    "a concurrent commit of %s (%s) was made while this output was written; it is replaced whole",
                    directory, replaced or "its manifest was removed",
                )
            manifest_files, retire_now = _plan(
                hub, bucket_id, directory, files, start_manifest, current, mode, location, replaces_point=store_manifest is not None
            )
            if store_manifest is None:
                break
            manifest = Manifest.new(directory, manifest_files, list(retire_now), manifest_fields, retire_now)
            try:
                manifest_record = store_manifest(location, manifest.to_bytes())
            except BucketSinkError as exc:  # storing the manifest failed: nothing of the commit point exists
                _take_back(hub, bucket_id, directory, visible, existed, ours, counter)
                raise _commit_error(
                    bucket_id, f"the output {directory or '(bucket root)'}", {location: f"storing the manifest failed ({exc})"},
                    visible, paths + [location], previous_intact=True,
                    previous_note="The commit point (manifest) was not written: a reader following the manifest still sees "
                    "the previous version whole.",
                ) from exc
            if _point(hub, bucket_id, directory) == point:
                break
            seen_change = True
            logger.warning("the commit point of %s moved while this commit was prepared; preparing it again", directory)

    except CommitError:
        raise
    except BucketSinkError as exc:  # the Hub could not be asked about the commit point: not written
        _take_back(hub, bucket_id, directory, visible, existed, ours, counter)
        raise _commit_error(
            bucket_id, f"the output {directory or '(bucket root)'}", {location: f"preparing the commit point failed ({exc})"},
            visible, paths + [location], previous_intact=True,
            previous_note="The commit point (manifest) was not written: a reader following the manifest still sees "
            "the previous version whole.",
        ) from exc

    # 3. the commit point: the manifest registered alone
    registered_at = time.monotonic()
    if manifest_record is not None:
        unknown_point = False
        try:
            applied, failed = _send(hub, bucket_id, [manifest_record.registration(mtime)])
        except _Unconfirmed as exc:
            applied, failed, unknown_point = [], {location: exc.reason}, True
        counter[0] += 1
        if failed:
            if not unknown_point:
                _take_back(hub, bucket_id, directory, visible, existed, ours, counter)
            raise _commit_error(
                bucket_id, f"the output {directory or '(bucket root)'}", failed, visible, paths + [location],
                previous_intact=not unknown_point,
                previous_note=(
                    "Whether the commit point (manifest) was written is UNKNOWN: readers following it see either "
                    "the previous version or this one, whole; all new data files are registered."
                    if unknown_point else
                    "The commit point (manifest) was not written: a reader following the manifest still sees "
                    "the previous version whole."
                ),
            )
        visible.extend(applied)
    # the time one check-then-register took us: a concurrent writer whose check ran before our
    # registration registers within about that time, so the last check waits that long (x2)
    window = time.monotonic() - registered_at

    # 4. retirements, after the commit point, only while the commit point is still ours, and only
    # of paths that still hold the bytes the retired output listed (never another writer's file)
    retired: list[str] = []
    pending: list[str] = []
    superseded: Manifest | None = None
    lost = False
    left: list[str] = []
    for start in range(0, len(retire_now), BATCH_LIMIT):
        if manifest_record is not None and not _still_ours(hub, bucket_id, location, manifest_record):
            lost, superseded = True, read_manifest(hub, bucket_id, directory)
            pending.extend(p for p in list(retire_now)[start:] if p not in set(retired))
            break
        chunk = dict(list(retire_now.items())[start : start + BATCH_LIMIT])
        try:
            now = {str(e.get("path")): e.get("xetHash") for e in hub.paths_info(bucket_id, list(chunk))}
            targets = [p for p, h in chunk.items() if p in now and (h is None or now[p] == h)]
            left.extend(p for p in chunk if p in now and p not in set(targets))
            failed = _register_all(hub, bucket_id, [Deletion(p) for p in targets], retired, counter)
        except (_Unconfirmed, BucketSinkError) as exc:  # committed already: the next writer retires the rest
            failed = {p: str(exc) for p in chunk if p not in set(retired)}
        if failed:
            pending.extend(p for p in retire_now if p not in set(retired) and p not in set(left))
            logger.warning(
                "the output %s is committed, but %d file(s) of the previous version could not be removed yet (%s); "
                "they are listed in the manifest and the next write retires them",
                directory, len(pending), _reasons(failed),
            )
            break
    if left:
        logger.warning(
            "%d path(s) of the previous output of %s hold other bytes than it listed (written since by someone "
            "else); they are left alone: %s", len(left), directory, ", ".join(left[:5]),
        )

    # 5. the last check: did a concurrent commit point replace ours right after it?
    if manifest_record is not None and not lost:
        time.sleep(max(0.0, min(_SETTLE_MAX, 2 * window - (time.monotonic() - registered_at))))
        if not _still_ours(hub, bucket_id, location, manifest_record):
            lost, superseded = True, read_manifest(hub, bucket_id, directory)
    unlisted: tuple[str, ...] = ()
    superseded_by: str | None = None
    if manifest_record is not None and lost:
        # we lost: the winner's commit point describes the output. Our files it does not list are
        # nobody's: taken back while they hold our bytes; the winner's files we touched are restored
        superseded_by = superseded.commit_id if superseded is not None else "(its manifest was removed)"
        winner = {f.path: f.xet_hash for f in superseded.files} if superseded is not None else {}
        mine = [p for p in paths if p not in winner and p in set(visible)]
        removed, remaining = _delete_if(hub, bucket_id, {p: ours[p] for p in mine}, counter)
        _restore(hub, bucket_id, {p: h for p, h in winner.items() if p in ours or p in set(retired)}, mtime, counter)
        unlisted = tuple(remaining)
        taken = set(removed)
        visible = [p for p in visible if p not in taken and p != location]
        logger.warning(
            "the output %s was replaced by a concurrent commit (%s) right after this one; %d file(s) of this commit "
            "that it does not list were removed%s", directory, superseded_by, len(taken),
            f", {len(unlisted)} could not be and stay unlisted: {', '.join(unlisted[:5])}" if unlisted else "",
        )
    elif seen_change and manifest_record is not None:
        # a concurrent writer's data lines may have re-registered some of our paths after ours:
        # point them at the bytes our (winning) manifest lists, so a listing reader agrees with it
        _restore(hub, bucket_id, ours, mtime, counter, {f.path: f.content_type for f in files})

    if untracked:
        logger.warning(
            "%s held %d file(s) that no commit point of hf-bucket-sink lists (e.g. %s); an overwrite retires only "
            "files a previous commit listed, so they are left as they were. Delete them yourself if they belong "
            "to an older output (e.g. `hf buckets rm -r`).", directory or "(bucket root)", len(untracked),
            ", ".join(untracked[:3]),
        )
    return CommitReport(
        bucket_id, tuple(visible), tuple(retired), location if manifest_record is not None else None,
        manifest_record, counter[0], tuple(pending), replaced, start_manifest,
        superseded_by=superseded_by, unlisted=unlisted, untracked=untracked,
    )


#: times the commit point is prepared again when it moves while being prepared
_POINT_CHECKS = 5
#: longest wait before the last check (seconds): 2x one check-then-register of ours
_SETTLE_MAX = 2.0


def _point(hub: HubClient, bucket_id: str, directory: str) -> dict[str, Any]:
    """The commit point's identity: the Xet hash of the manifest beside the directory and of the legacy one inside."""
    candidates = sorted({manifest_path(directory), legacy_manifest_path(directory)})
    return {str(e.get("path")): e.get("xetHash") for e in hub.paths_info(bucket_id, candidates)}


def _still_ours(hub: HubClient, bucket_id: str, location: str, record: StoredFile) -> bool:
    found = hub.paths_info(bucket_id, [location])
    return bool(found) and found[0].get("xetHash") == record.result.xet_hash


def _plan(
    hub: HubClient,
    bucket_id: str,
    directory: str,
    files: Sequence[StoredFile],
    start_manifest: Manifest | None,
    current: Manifest | None,
    mode: str,
    location: str,
    *,
    replaces_point: bool,
) -> tuple[list[ManifestFile], dict[str, str | None]]:
    """The new manifest's files, and what it retires: path -> the Xet hash the retired output listed (None: any)."""
    new_paths = {f.path for f in files}
    retire: dict[str, str | None] = {}
    for old in {id(m): m for m in (start_manifest, current) if m is not None}.values():
        for p in old.retire:
            retire.setdefault(p, old.retire_hashes.get(p))
        if mode == "overwrite" or old is not start_manifest:
            for f in old.files:
                retire[f.path] = f.xet_hash
        if old.location and old.location != location:
            retire[old.location] = old.location_hash  # the previous release's inner manifest
    if current is not None and current.location == location:
        left_over = read_left_over(hub, bucket_id, directory)  # an older release's inner manifest of ours
        if left_over is not None:
            retire.setdefault(left_over.location, left_over.location_hash)
    manifest_files = [ManifestFile(f.path, f.result.size, f.result.xet_hash, f.result.rows) for f in files]
    if mode == "append" and start_manifest is not None:
        kept = [f for f in start_manifest.files if f.path not in new_paths]
        manifest_files += kept
        for f in kept:
            retire.pop(f.path, None)
    for p in new_paths | {location}:
        retire.pop(p, None)
    if not replaces_point and current is not None and current.location == location:
        # no new commit point (manifest=False): the old one would go on describing other files
        retire[location] = current.location_hash
    # only what exists is still to retire (keeps the list from growing across commits)
    existing = {str(e.get("path")) for e in hub.paths_info(bucket_id, sorted(retire))} if retire else set()
    return manifest_files, {p: retire[p] for p in sorted(retire) if p in existing}


def _delete_if(hub: HubClient, bucket_id: str, expected: Mapping[str, str], counter: list[int]) -> tuple[list[str], list[str]]:
    """Delete the paths that still hold the expected Xet hash; returns (deleted, still holding it but not deleted)."""
    if not expected:
        return [], []
    removed: list[str] = []
    try:
        now = {str(e.get("path")): e.get("xetHash") for e in hub.paths_info(bucket_id, sorted(expected))}
        targets = [p for p in sorted(expected) if now.get(p) == expected[p]]
        failed = _register_all(hub, bucket_id, [Deletion(p) for p in targets], removed, counter)
    except (_Unconfirmed, BucketSinkError) as exc:  # the caller's outcome matters more; say what stays
        logger.warning("removing %d file(s) failed: %s", len(expected), exc)
        return removed, [p for p in sorted(expected) if p not in set(removed)]
    if failed:
        logger.warning("%d file(s) could not be removed: %s", len(failed), _reasons(failed))
    gone = set(removed)
    return removed, [p for p in targets if p not in gone]


def _restore(
    hub: HubClient,
    bucket_id: str,
    wanted: Mapping[str, str],
    mtime: int,
    counter: list[int],
    content_types: Mapping[str, str] | None = None,
) -> None:
    """Point every path of ``wanted`` at its Xet hash again where it now points elsewhere (or nowhere)."""
    types = content_types or {}
    if not wanted:
        return
    try:
        now = {str(e.get("path")): e.get("xetHash") for e in hub.paths_info(bucket_id, sorted(wanted))}
        lines = [
            FileRegistration(p, h, mtime, types.get(p) or content_type_for(p)) for p, h in sorted(wanted.items()) if now.get(p) != h
        ]
        if lines:
            logger.warning("%d path(s) pointed at a concurrent writer's bytes; pointing them at the committed ones", len(lines))
            failed = _register_all(hub, bucket_id, lines, [], counter)
            if failed:
                logger.warning("%d path(s) could not be restored: %s", len(failed), _reasons(failed))
    except (_Unconfirmed, BucketSinkError) as exc:  # manifest readers read by hash anyway: say it, go on
        logger.warning("restoring %d path(s) to the committed bytes failed: %s", len(wanted), exc)


def _take_back(
    hub: HubClient,
    bucket_id: str,
    directory: str,
    visible: list[str],
    existed: set[str],
    ours: Mapping[str, str],
    counter: list[int],
) -> None:
    """Before the commit point only: delete the visible paths that held nothing before, still hold our
    bytes, and no commit point lists (a concurrent writer may have committed them); updates ``visible``."""
    fresh = [p for p in visible if p not in existed]
    if not fresh:
        return
    try:
        current = read_manifest(hub, bucket_id, directory)
    except BucketSinkError as exc:  # the error being raised matters more; what stays visible is said
        logger.warning("taking back %d new path(s) after a failed commit failed: %s", len(fresh), exc)
        return
    listed = current.paths if current is not None else frozenset()
    removed, _ = _delete_if(hub, bucket_id, {p: ours[p] for p in fresh if p not in listed}, counter)
    gone = set(removed)
    visible[:] = [p for p in visible if p not in gone]


def _changed(before: Manifest | None, now: Manifest | None) -> bool:
    if before is None or now is None:
        return (before is None) != (now is None)
    return (before.location, before.location_hash) != (now.location, now.location_hash)
