"""The commit protocol (core/commit.py) against a local Hub whose ``/batch`` fails like the real one.

The real Hub can apply part of a ``/batch`` and then answer 5xx, drop the connection, or answer
200 with failed lines. A fault is put at every request boundary in each mode, for a 2,500-file
directory output at the Hub's real limit of 1,000 lines per request (1,000 + 1,000 + 500 data
lines, the manifest alone, then retirements), and end to end for a partitioned Parquet sink and
the Ray datasink with the limit lowered so that 20 tiny files cross every boundary. Afterwards a
manifest-following reader must see the previous output or the new one, whole (every file at the
listed Xet hash), the error must name exactly the visible paths, and a rerun must finish the job
sending no data bytes again. Each fault test first proves its fault fired. Concurrent writers run
in threads, many rounds, with Hub latency widening the windows (docs/commit-protocol.md has the
table of which test proves which promise).
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
    # retire entries carry the bytes they held; plain strings (written before that) still read
    both = Manifest.new("d/", [], ["d/a", "d/b"], retire_hashes={"d/a": "ab" * 32})
    again = Manifest.from_bytes(both.to_bytes(), "d/")
    assert again.retire == ("d/a", "d/b") and again.retire_hashes == {"d/a": "ab" * 32}
    older = Manifest.from_bytes(b'{"version": 2, "files": [], "retire": ["x.parquet"]}', "d/")
    assert older.retire == ("d/x.parquet",) and older.retire_hashes == {}


# -- end to end: a Polars partitioned sink -------------------------------------------------------------


def frame(n: int, tag: str) -> pl.LazyFrame:
    return pl.LazyFrame({"k": list(range(n)), "v": [f"{tag}{i}" for i in range(n)]})


#: the sink and Ray matrices below lower the per-request line limit (the Hub's is 1,000) so that a
#: 20-file output needs 3 data requests: every boundary of a real multi-request commit, at a cost
#: of tiny files; the 2,500-file matrix above runs at the real limit
SMALL_LIMIT = 8
#: the new sink output rewrites k=2..19, adds k=20, 21 and so retires k=0, 1: requests 8+8+4 data
#: lines, the manifest, 2 retirements
SINK_BOUNDARIES = [(0, 4), (1, 0), (2, 2), (3, 0), (3, 1), (4, 1)]


def keyed(keys: range, tag: str) -> pl.LazyFrame:
    return pl.LazyFrame({"k": list(keys), "v": [f"{tag}{i}" for i in keys]})


def uris_to_hashes(result: Any) -> dict[str, str]:
    return {f.uri.split(f"/{BUCKET}/", 1)[1]: f.xet_hash for f in result.files}


def failed_or_report(run: Any) -> tuple[Any, BaseException | None]:
    try:
        return run(), None
    except CommitError as exc:
        return None, exc


@pytest.mark.parametrize("answer", ["error", "drop", "report"])
@pytest.mark.parametrize(("request_index", "keep"), SINK_BOUNDARIES)
def test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole(
    hub: Any, client: HubClient, monkeypatch: pytest.MonkeyPatch, answer: str, request_index: int, keep: int
) -> None:
    import hf_bucket_sink.core.commit as commit_module

    monkeypatch.setattr(commit_module, "BATCH_LIMIT", SMALL_LIMIT)
    opts = {"token": hub.token, "endpoint": hub.url}
    directory = f"sink-{request_index}-{keep}-{answer}/"
    target = f"hf://buckets/{bucket_id(hub)}/{directory}"
    old_frame, new_frame = keyed(range(20), "a").collect(), keyed(range(2, 22), "b").collect()
    first = hf_bucket_sink.sink_parquet(old_frame, pl.PartitionBy(target, key="k"), storage_options=opts)
    old = uris_to_hashes(first)

    before = hub.stats()["faults"]["injected"].get("partial_batches", 0)
    hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "after": request_index, "times": 1}})
    try:
        report, error = failed_or_report(
            lambda: hf_bucket_sink.sink_parquet(new_frame, pl.PartitionBy(target, key="k"), storage_options=opts)
        )
    finally:
        hub.set_faults({})
    assert hub.stats()["faults"]["injected"].get("partial_batches", 0) == before + 1  # the fault fired
    now = listing(client, hub, directory)
    # the manifest-following reader: the previous output or the new one, whole, never a mix
    back = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
    if error is not None:
        assert isinstance(error, CommitError) and error.previous_intact
        assert committed(client, hub, directory) == old and back.equals(old_frame)
        assert set(now) >= set(old)  # a lister sees extra files, never a missing one of the committed version
    else:
        assert request_index >= 3 and back.equals(new_frame)

    rerun = hf_bucket_sink.sink_parquet(new_frame, pl.PartitionBy(target, key="k"), storage_options=opts)
    new = uris_to_hashes(rerun)
    assert rerun.new_bytes == 0  # no data chunk travels twice
    assert committed(client, hub, directory) == new and listing(client, hub, directory) == new
    assert hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k").equals(new_frame)
    if error is not None:
        # .visible named exactly the paths that held this commit's bytes when it failed
        assert isinstance(error, CommitError)
        assert set(error.visible) == {p for p, h in now.items() if new.get(p) == h}
        assert set(error.visible) | set(error.not_visible) == set(new) | {manifest_path(directory)}
        assert "Run the same write again" in str(error)


#: the Ray output's files are all new names (the write id is in them): 20 data lines in 8+8+4, the
#: manifest, then the 20 previous files retired in 8+8+4
RAY_BOUNDARIES = [(0, 4), (1, 0), (2, 2), (3, 0), (3, 1), (4, 3), (6, 0)]


def ray_write(hub: Any, directory: str, tag: str) -> Any:
    """One BucketDatasink write driven through its Ray callbacks in this process (one task, 20 files)."""
    import types
    import uuid

    import pyarrow as pa

    from hf_bucket_sink.ray import BucketDatasink

    sink = BucketDatasink(
        f"hf://buckets/{bucket_id(hub)}/{directory}", storage_options={"endpoint": hub.url},
        token_provider=lambda: hub.token, target_bytes_per_file=1,
    )
    blocks = [pa.table({"k": [i], "v": [f"{tag}{i}"]}) for i in range(20)]
    sink.on_write_start(blocks[0].schema)
    task = sink.write(blocks, types.SimpleNamespace(task_idx=0, kwargs={"write_uuid": uuid.uuid4().hex[:8]}))
    try:
        sink.on_write_complete([task])
    except CommitError as exc:
        sink.on_write_failed(exc)  # what Ray does with an error of on_write_complete
        raise
    return sink


@pytest.mark.parametrize("answer", ["error", "drop", "report"])
@pytest.mark.parametrize(("request_index", "keep"), RAY_BOUNDARIES)
def test_a_ray_datasink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_dataset_whole(
    hub: Any, client: HubClient, monkeypatch: pytest.MonkeyPatch, answer: str, request_index: int, keep: int
) -> None:
    pytest.importorskip("ray.data")
    import hf_bucket_sink.core.commit as commit_module

    monkeypatch.setattr(commit_module, "BATCH_LIMIT", SMALL_LIMIT)
    opts = {"token": hub.token, "endpoint": hub.url}
    directory = f"ray-{request_index}-{keep}-{answer}/"
    target = f"hf://buckets/{bucket_id(hub)}/{directory}"
    first = ray_write(hub, directory, "a")
    old = uris_to_hashes(first.result)
    old_frame = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
    assert old_frame["v"].to_list() == [f"a{i}" for i in range(20)]

    before = hub.stats()["faults"]["injected"].get("partial_batches", 0)
    hub.set_faults({"hub_batch": {"partial_lines": keep, "partial_answer": answer, "after": request_index, "times": 1}})
    try:
        sink, error = failed_or_report(lambda: ray_write(hub, directory, "b"))
    finally:
        hub.set_faults({})
    assert hub.stats()["faults"]["injected"].get("partial_batches", 0) == before + 1  # the fault fired
    now = listing(client, hub, directory)
    back = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
    if error is not None:
        assert isinstance(error, CommitError) and error.previous_intact
        assert committed(client, hub, directory) == old and back.equals(old_frame)
        assert set(now) >= set(old)
        # every new path is fresh (the write id is in the name): all were taken back
        assert error.visible == () and set(now) == set(old)
        assert len(error.not_visible) == 20 + 1
    else:
        assert request_index >= 3 and back["v"].to_list() == [f"b{i}" for i in range(20)]
        assert sink is not None and set(committed(client, hub, directory)) == set(uris_to_hashes(sink.result))

    rerun = ray_write(hub, directory, "b")
    new = uris_to_hashes(rerun.result)
    assert rerun.result.new_bytes == 0  # the bytes were stored by the failed write already
    assert committed(client, hub, directory) == new and listing(client, hub, directory) == new
    assert hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")["v"].to_list() == [
        f"b{i}" for i in range(20)
    ]


def run_together(*jobs: Any) -> list[Any]:
    """Run the jobs in threads at once; every thread is joined and any error re-raised here."""
    import threading

    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        try:
            start.wait(timeout=30)
            results[i] = jobs[i]()
        except BaseException as exc:  # re-raised below: a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


def test_two_concurrent_partitioned_sinks_leave_exactly_one_of_them(hub: Any, client: HubClient) -> None:
    opts = {"token": hub.token, "endpoint": hub.url}
    target = f"hf://buckets/{bucket_id(hub)}/concurrent/"
    hub.set_faults({"hub": {"latency": 0.01}})  # widens every check-then-write window
    try:
        for round_ in range(3):
            a, b = run_together(
                lambda: hf_bucket_sink.sink_parquet(keyed(range(0, 30), f"a{round_}-"), pl.PartitionBy(target, key="k"), storage_options=opts),
                lambda: hf_bucket_sink.sink_parquet(keyed(range(10, 45), f"b{round_}-"), pl.PartitionBy(target, key="k"), storage_options=opts),
            )
            seen = committed(client, hub, "concurrent/")
            by_writer = {"a": uris_to_hashes(a), "b": uris_to_hashes(b)}
            # exactly one of them, never a mix; and every listed path holds that writer's bytes,
            # so a reader by path agrees with a reader following the manifest
            winner = [tag for tag, files in by_writer.items() if files == seen]
            assert len(winner) == 1, round_
            assert listing(client, hub, "concurrent/") == seen, round_
            back = hf_bucket_sink.scan_parquet(target, storage_options=opts).collect().sort("k")
            keys = range(0, 30) if winner == ["a"] else range(10, 45)
            assert back.equals(keyed(keys, f"{winner[0]}{round_}-").collect()), round_
    finally:
        hub.set_faults({})


def test_two_concurrent_commits_many_times_leave_exactly_one_whole_output(hub: Any, client: HubClient, versions: Any) -> None:
    # A and B share paths p10..p29 (with different bytes); each has paths of its own
    raced = 0
    # Hub latency widens every check-then-write window and, as on a real network, makes both
    # writers' windows about the same length; with none, on an overloaded box one thread's pause
    # can outlast the other's wait (the limit docs/commit-protocol.md states; seen once in ~40
    # rounds at load 25 on 2 cores)
    for latency in (0.01, 0.03):
        directory = f"stress-{latency}/"
        a_files, b_files = placed(versions[0][0:30], directory), placed(versions[1][10:40], directory)

        def writer(files: list[StoredFile], directory: str = directory) -> Any:
            start = read_manifest(client, bucket_id(hub), directory)
            return commit(HubClient(client.creds), hub, files, directory, previous=start)

        hub.set_faults({"hub": {"latency": latency}})
        try:
            for round_ in range(8):
                ra, rb = run_together(lambda: writer(a_files), lambda: writer(b_files))
                seen = committed(client, hub, directory)
                assert seen in (hashes(a_files), hashes(b_files)), round_  # never a mix
                winner, loser = (ra, rb) if seen == hashes(a_files) else (rb, ra)
                assert listing(client, hub, directory) == seen, round_  # no orphan, no path at the loser's bytes
                assert not winner.superseded_by, round_
                # both started from the same manifest, so one saw the other: the winner replaced a
                # commit it found, or the loser found itself replaced right after its own
                assert winner.replaced_concurrent or loser.superseded_by, round_
                if loser.superseded_by:  # both passed their check before either registered: the race
                    raced += 1
                    m = read_manifest(client, bucket_id(hub), directory)
                    assert m is not None and loser.superseded_by == m.commit_id and loser.unlisted == ()
        finally:
            hub.set_faults({})
    assert raced >= 1  # the window was hit (in most rounds), not only sequential commits


def test_a_commit_point_that_moves_while_the_manifest_is_stored_is_prepared_again(
    hub: Any, client: HubClient, versions: Any
) -> None:
    directory = "moved/"
    mine, theirs = placed(versions[0][:10], directory), placed(versions[1][5:15], directory)
    start = read_manifest(client, bucket_id(hub), directory)
    access = client.xet_token(bucket_id(hub), write=True)
    storer = manifest_storer(client, bucket_id(hub), access)
    calls: list[str] = []

    def store_and_race(path: str, body: bytes) -> StoredFile:
        if not calls:  # the other writer commits between our last look and our registration
            calls.append(commit(client, hub, theirs, directory).manifest_file.result.xet_hash)
        calls.append("stored")
        return storer(path, body)

    report = commit_output(
        client, bucket_id(hub), mine, directory=directory, store_manifest=store_and_race, previous=start
    )
    assert calls.count("stored") == 2  # the point moved: the manifest was built again
    assert report.replaced_concurrent  # and says whose commit it replaced
    assert committed(client, hub, directory) == hashes(mine)
    assert listing(client, hub, directory) == hashes(mine)  # the replaced output's own files retired


def test_a_retirement_leaves_a_path_someone_rewrote_since(hub: Any, client: HubClient, versions: Any) -> None:
    directory = "rewritten/"
    old = placed(versions[0][:6], directory)
    commit(client, hub, old, directory)
    # another program writes its own bytes at a path of the previous output (p00005)
    foreign = dataclasses.replace(placed(versions[1][:1], directory)[0], path=old[5].path)
    commit_output(client, bucket_id(hub), [foreign], directory=None)
    report = commit(client, hub, placed(versions[1][:3], directory), directory)  # p0..p2: retires p3..p5
    assert set(report.retired) == {old[3].path, old[4].path}
    assert listing(client, hub, directory)[old[5].path] == foreign.result.xet_hash  # left alone


def test_an_overwrite_of_an_output_without_a_commit_point_leaves_its_files_and_names_them(
    hub: Any, client: HubClient, versions: Any
) -> None:
    directory = "release-0.1/"
    # the 0.1 release wrote <= 1,000 files without any manifest: nothing says they are ours
    earlier = placed(versions[0][:5], directory)
    commit_output(client, bucket_id(hub), earlier, directory=None)
    new = placed(versions[1][:2], directory)
    report = commit(client, hub, new, directory)
    assert report.previous is None and report.retired == ()
    assert set(report.untracked) == {f.path for f in earlier[2:]}
    assert listing(client, hub, directory) == {**hashes(earlier), **hashes(new)}
    # once committed, the output is known: the next overwrite replaces it and still leaves the rest
    again = commit(client, hub, placed(versions[1][:1], directory), directory)
    assert set(again.retired) == {new[1].path} and again.untracked == ()


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


def test_an_overwrite_without_a_commit_point_retires_the_old_one(hub: Any, client: HubClient, versions: Any) -> None:
    directory = "no-point/"
    old = placed(versions[0][:6], directory)
    commit(client, hub, old, directory)
    new = placed(versions[1][:2], directory)
    # manifest=False: no new commit point; the old one would go on describing other files
    report = commit_output(client, bucket_id(hub), new, directory=directory)
    assert report.manifest is None and read_manifest(client, bucket_id(hub), directory) is None
    assert listing(client, hub, directory) == hashes(new)  # the old output's other files retired too
    assert manifest_path(directory) in report.retired


def test_a_failed_commit_does_not_take_back_a_path_a_concurrent_commit_lists(
    hub: Any, client: HubClient, versions: Any
) -> None:
    directory = "take-back/"
    mine = placed(versions[0][:8], directory)
    theirs = mine[:3]  # the same paths with the same bytes (same Xet hashes): only the manifest tells them apart

    class RacedClient(HubClient):
        """The other writer commits right before our manifest's /batch, which then fails (503)."""

        fired = False

        def batch(self, bucket: str, lines: Any) -> Any:
            if not self.fired and [line.path for line in lines] == [manifest_path(directory)]:
                self.fired = True
                commit(client, hub, theirs, directory)
                hub.set_faults({"hub_batch": {"partial_lines": 0, "partial_answer": "error", "times": 1}})
            return super().batch(bucket, lines)

    raced = RacedClient(client.creds)
    before = hub.stats()["faults"]["injected"].get("partial_batches", 0)
    try:
        with pytest.raises(CommitError) as caught:
            commit(raced, hub, mine, directory, previous=None)
    finally:
        hub.set_faults({})
    assert raced.fired and hub.stats()["faults"]["injected"].get("partial_batches", 0) == before + 1
    assert committed(client, hub, directory) == hashes(theirs)
    # our other new paths are taken back; the three the other commit lists are left to it
    assert listing(client, hub, directory) == hashes(theirs)
    assert set(caught.value.visible) == {f.path for f in theirs}
