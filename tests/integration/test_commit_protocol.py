"""The commit protocol (core/commit.py) against a local Hub whose ``/batch`` fails like the real one.

The real Hub can apply part of a ``/batch`` and then answer 5xx, drop the connection, or answer
200 with failed lines. For a 2,500-file directory output (requests of 1,000 + 1,000 + 500 data
lines, the manifest alone, then retirements) a fault is put at every request boundary in each
mode; afterwards a manifest-following reader must see the previous output or the new one,
whole (every file at the listed Xet hash), the error must name exactly the visible paths, and a
rerun must finish the job. Each fault test first proves its fault fired.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import CommitError
from hf_bucket_sink.core.commit import StoredFile, commit_output
from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.manifest import Manifest, ManifestFile, manifest_path, read_manifest
from hf_bucket_sink.core.paths import BucketPath
from hf_bucket_sink.core.upload import UploadSession, manifest_storer

BUCKET = "commit"
N_OLD = 2_500
#: the new output rewrites the first 2,250 paths, adds 250 new ones, and so retires 250
N_REWRITE, N_ADDED = 2_250, 250


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from hf_bucket_sink.localhub import LocalHub

    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}", exist_ok=True)
        yield h


@pytest.fixture()
def client(hub: Any, monkeypatch: pytest.MonkeyPatch) -> HubClient:
    # no client retries: a faulted request fails at once (the retry path is tested by the fault
    # hitting every attempt in production; here it would only add seconds of backoff)
    monkeypatch.setattr(HubClient, "batch_retries", 0)
    return HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))


def bucket_id(hub: Any) -> str:
    return f"{hub.user}/{BUCKET}"


def _store(client: HubClient, hub: Any, bodies: dict[str, bytes]) -> list[StoredFile]:
    """Store tiny files in Xet once (paths under ``_src/``); tests re-path them (the hash is the content)."""
    access = client.xet_token(bucket_id(hub), write=True)
    with UploadSession(client, bucket_id(hub), access) as session:
        handles = []
        for name, body in bodies.items():
            handle = session.open_partition(BucketPath(hub.user, BUCKET, f"_src/{name}"))
            handle.write(body)
            handles.append(handle)
        stored, _ = session.store()
        del handles
    return stored


@pytest.fixture(scope="module")
def versions(hub: Any) -> tuple[list[StoredFile], list[StoredFile]]:
    client = HubClient(resolve_credentials({"token": hub.token, "endpoint": hub.url}))
    old = _store(client, hub, {f"p{i:05d}.parquet": b"old %d" % i for i in range(N_OLD)})
    new_names = [f"p{i:05d}.parquet" for i in range(N_REWRITE)] + [f"p{i:05d}.parquet" for i in range(N_OLD, N_OLD + N_ADDED)]
    new = _store(client, hub, {name: b"new " + name.encode() for name in new_names})
    return old, new


def placed(files: list[StoredFile], directory: str) -> list[StoredFile]:
    return [dataclasses.replace(f, path=directory + f.path.split("/", 1)[1]) for f in files]


def hashes(files: list[StoredFile]) -> dict[str, str]:
    return {f.path: f.result.xet_hash for f in files}


def listing(client: HubClient, hub: Any, prefix: str) -> dict[str, str]:
    return {str(e["path"]): str(e.get("xetHash")) for e in client.list_tree(bucket_id(hub), prefix) if e.get("type") != "directory"}


def commit(client: HubClient, hub: Any, files: list[StoredFile], directory: str, **kwargs: Any) -> Any:
    access = client.xet_token(bucket_id(hub), write=True)
    return commit_output(
        client, bucket_id(hub), files, directory=directory, store_manifest=manifest_storer(client, bucket_id(hub), access),
        **kwargs,
    )


def committed(client: HubClient, hub: Any, directory: str) -> dict[str, str]:
    m = read_manifest(client, bucket_id(hub), directory)
    assert m is not None
    return {f.path: f.xet_hash for f in m.files}


# request index (0-based, counted from when the fault is set) -> lines of it applied before the fault
BOUNDARIES = [(0, 500), (1, 0), (2, 250), (3, 0), (3, 1), (4, 100)]


@pytest.mark.parametrize("answer", ["error", "drop", "report"])
@pytest.mark.parametrize(("request_index", "keep"), BOUNDARIES)
def test_a_fault_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole(
    hub: Any, client: HubClient, versions: Any, answer: str, request_index: int, keep: int
) -> None:
    directory = f"b{request_index}-{keep}-{answer}/"
    old, new = placed(versions[0], directory), placed(versions[1], directory)
    commit(client, hub, old, directory)
    assert committed(client, hub, directory) == hashes(old) and listing(client, hub, directory) == hashes(old)

    before = hub.stats()["faults"]["injected"].get("partial_batches", 0)
    hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "after": request_index}})
    try:
        try:
            report = commit(client, hub, new, directory)
            error = None
        except CommitError as exc:
            error, report = exc, None
    finally:
        hub.set_faults({})
    assert hub.stats()["faults"]["injected"].get("partial_batches", 0) > before  # the fault fired

    now = listing(client, hub, directory)
    seen = committed(client, hub, directory)
    if error is not None:
        # the commit point was not passed: the manifest still lists the old output, whole
        assert request_index <= 3 and not (request_index == 3 and keep == 1)
        assert seen == hashes(old) and error.previous_intact
        # every old file is still listed at its hash (a lister sees extra files, never a missing one)
        assert set(now) >= set(seen)
        # .visible names exactly the new paths that now point at the new content
        new_hashes = hashes(new)
        assert set(error.visible) == {p for p, h in now.items() if new_hashes.get(p) == h and hashes(old).get(p) != h}
        assert set(error.visible) | set(error.not_visible) == set(new_hashes) | {manifest_path(directory)}
        assert "visible" in str(error) and "Run the same write again" in str(error)
    else:
        # the manifest went through (applied, answer lost -> confirmed by paths-info) or only a
        # retirement failed: the new output is committed; a pending retirement is recorded
        assert request_index >= 3 and report is not None
        assert seen == hashes(new)
        m = read_manifest(client, bucket_id(hub), directory)
        assert m is not None and set(report.retire_pending) <= set(m.retire)

    # a rerun finishes the job: the new output whole, and exactly its files under the directory
    report = commit(client, hub, new, directory)
    assert committed(client, hub, directory) == hashes(new)
    assert listing(client, hub, directory) == hashes(new)
    assert not report.retire_pending


def test_a_concurrent_commit_is_replaced_whole(hub: Any, client: HubClient, versions: Any) -> None:
    directory = "race/"
    old, new = placed(versions[0], directory), placed(versions[1], directory)
    start = read_manifest(client, bucket_id(hub), directory)  # both writers start from "nothing"
    other = commit(client, hub, old, directory, previous=start)  # the other writer commits first
    assert other.replaced_concurrent is None
    report = commit(client, hub, new, directory, previous=start)
    assert report.replaced_concurrent  # said, and logged
    assert committed(client, hub, directory) == hashes(new)  # never a mix
    assert listing(client, hub, directory) == hashes(new)  # the loser's files no manifest lists are gone


def test_append_keeps_the_previous_files_listed(hub: Any, client: HubClient, versions: Any) -> None:
    directory = "append/"
    old = placed(versions[0][:10], directory)
    added = placed(versions[1][-5:], directory)  # new paths only
    commit(client, hub, old, directory)
    commit(client, hub, added, directory, mode="append")
    assert committed(client, hub, directory) == {**hashes(old), **hashes(added)}


def test_read_manifest_reads_files_sizes_hashes_and_rows(hub: Any, client: HubClient, versions: Any) -> None:
    directory = "reader/out/"
    files = placed(versions[0][:3], directory)
    commit(client, hub, files, directory, manifest_fields={"format": "parquet"})
    m = read_manifest(client, bucket_id(hub), "reader/out")
    assert isinstance(m, Manifest) and m.location == "reader/_out.manifest.json" and m.fields["format"] == "parquet"
    assert [(f.path, f.size, f.xet_hash) for f in m.files] == [(f.path, f.result.size, f.result.xet_hash) for f in files]
    assert read_manifest(client, bucket_id(hub), "reader/none/") is None
    assert manifest_path("") == "_manifest.json"  # the bucket root has no "beside"


# -- end to end: a Polars partitioned sink -------------------------------------------------------------


def frame(n: int, tag: str) -> pl.LazyFrame:
    return pl.LazyFrame({"k": list(range(n)), "v": [f"{tag}{i}" for i in range(n)]})


def test_partitioned_sink_overwrite_failure_keeps_the_old_output_and_a_rerun_sends_no_new_bytes(
    hub: Any, client: HubClient
) -> None:
    opts = {"token": hub.token, "endpoint": hub.url}
    target = f"hf://buckets/{bucket_id(hub)}/sink/"
    first = hf_bucket_sink.sink_parquet(frame(1_200, "a"), pl.PartitionBy(target, key="k"), storage_options=opts)
    assert first.manifest is not None and len(first.files) == 1_200
    old = {f.uri.split(f"/{BUCKET}/", 1)[1]: f.xet_hash for f in first.files}

    # fewer partition values, new content; the second data request is half applied, then dropped
    hub.set_faults({"hub_batch": {"partial_lines": 50, "partial_answer": "drop", "after": 1}})
    try:
        with pytest.raises(CommitError) as caught:
            hf_bucket_sink.sink_parquet(frame(1_100, "b"), pl.PartitionBy(target, key="k"), storage_options=opts)
    finally:
        hub.set_faults({})
    error = caught.value
    assert error.previous_intact and len(error.visible) == 1_000 + 50
    assert committed(client, hub, "sink/") == old
    # 1,050 paths now hold new bytes, yet a scan follows the commit point and reads the listed
    # hashes: the previous output, whole and byte for byte
    assert sum(listing(client, hub, "sink/").get(p) != h for p, h in old.items()) >= 1_000
    back = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
    assert back["v"].to_list() == [f"a{i}" for i in range(1_200)]

    rerun = hf_bucket_sink.sink_parquet(frame(1_100, "b"), pl.PartitionBy(target, key="k"), storage_options=opts)
    # no data chunk travels again: what is sent is the shard (file records) and the new manifest
    assert rerun.new_bytes == 0 and rerun.uploaded_bytes < first.uploaded_bytes
    new = {f.uri.split(f"/{BUCKET}/", 1)[1]: f.xet_hash for f in rerun.files}
    assert committed(client, hub, "sink/") == new
    assert listing(client, hub, "sink/") == new  # exactly the new files: the 100 extra partitions retired
    back = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
    assert back["v"].to_list() == [f"b{i}" for i in range(1_100)]


def test_two_concurrent_partitioned_sinks_leave_exactly_one_of_them(hub: Any, client: HubClient) -> None:
    import threading

    opts = {"token": hub.token, "endpoint": hub.url}
    target = f"hf://buckets/{bucket_id(hub)}/concurrent/"
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def write(tag: str, n: int) -> None:
        try:
            results[tag] = hf_bucket_sink.sink_parquet(frame(n, tag), pl.PartitionBy(target, key="k"), storage_options=opts)
        except BaseException as exc:  # reported below: a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(tag, n)) for tag, n in (("a", 300), ("b", 450))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and set(results) == {"a", "b"}
    seen = committed(client, hub, "concurrent/")
    by_writer = {tag: {f.uri.split(f"/{BUCKET}/", 1)[1]: f.xet_hash for f in r.files} for tag, r in results.items()}
    # exactly one of them, never a mix: every file at the hash of that writer's bytes (the Xet hash
    # names the content, so a manifest-following reader reads that writer's data). By-path reads
    # are not asserted: in the documented race window (both re-read before either commits) the
    # loser may re-register a shared path after the winner's data lines.
    assert sum(files == seen for files in by_writer.values()) == 1


def test_a_writer_replaced_right_after_its_commit_point_takes_back_its_unlisted_files(
    hub: Any, client: HubClient, versions: Any
) -> None:
    directory = "race-after/"
    mine = placed(versions[0][:20], directory)
    theirs = placed(versions[1][:5], directory)  # shares 5 paths with mine, not the other 15
    other = HubClient(client.creds)

    class RacedClient(HubClient):
        """The other writer commits the instant our manifest's /batch returns (the race window)."""

        fired = False

        def batch(self, bucket: str, lines: Any) -> Any:
            outcome = super().batch(bucket, lines)
            if not self.fired and [line.path for line in lines] == [manifest_path(directory)]:
                self.fired = True
                # the other writer re-read before we registered, so it does not know our files:
                # its data lines and its commit point land right after ours
                access = other.xet_token(bucket_id(hub), write=True)
                body = Manifest.new(directory, [ManifestFile(f.path, f.result.size, f.result.xet_hash) for f in theirs])
                record = manifest_storer(other, bucket_id(hub), access)(manifest_path(directory), body.to_bytes())
                commit_output(other, bucket_id(hub), theirs, directory=None)
                commit_output(other, bucket_id(hub), [record], directory=None)
            return outcome

    raced = RacedClient(client.creds)
    report = commit(raced, hub, mine, directory, previous=None)
    assert raced.fired  # the concurrent commit happened inside our commit
    assert report.superseded_by and report.unlisted == ()
    assert committed(client, hub, directory) == hashes(theirs)  # the last commit point wins whole
    assert listing(client, hub, directory) == hashes(theirs)  # none of our files left unlisted
