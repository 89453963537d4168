"""CSV / NDJSON / IPC / Parquet sinks, eager writes and partitioned outputs against the local Hub.

Every round trip reads the bucket back with the official client (``list_bucket_tree`` +
``download_bucket_files``) and compares with Polars over the downloaded files; the failure tests
check that nothing of a failed or refused sink was registered and that the query did not run.
"""

from __future__ import annotations

import json
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import BucketFileExistsError, InvalidOptionError, QueryError, UnsupportedTargetError
from hf_bucket_sink.core import hub as hub_module
from hf_bucket_sink.core.hub import BATCH_LIMIT
from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.core.upload import UploadSession

pytestmark = pytest.mark.filterwarnings("ignore::polars.exceptions.UnstableWarning")
warnings.filterwarnings("ignore", message=".*PartitionBy.*unstable")

BUCKET = "formats"

READERS: dict[str, Callable[[Path], pl.DataFrame]] = {
    "parquet": pl.read_parquet,
    "csv": pl.read_csv,
    "ndjson": pl.read_ndjson,
    "ipc": pl.read_ipc,
}
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "ndjson": "jsonl", "ipc": "arrow"}
CONTENT_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "ipc": "application/vnd.apache.arrow.file",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/{BUCKET}", exist_ok=True)
        yield h


def uri(hub: LocalHub, path: str) -> str:
    return f"hf://buckets/{hub.user}/{BUCKET}/{path}"


def source(rows: int = 20_000) -> pl.DataFrame:
    return pl.DataFrame({"id": pl.int_range(rows, eager=True)}).with_columns(
        lang=pl.format("l{}", pl.col("id") % 5),
        text=pl.format("row {} says \"hi\", ok", pl.col("id")),
        score=(pl.col("id") * 7 % 101).cast(pl.Float64) / 4,
    )


def files_under(api: HfApi, hub: LocalHub, prefix: str) -> dict[str, Any]:
    return {
        f.path: f
        for f in api.list_bucket_tree(f"{hub.user}/{BUCKET}", prefix=prefix, recursive=True)
        if hasattr(f, "size")
    }


def download(api: HfApi, hub: LocalHub, paths: list[str], prefix: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    api.download_bucket_files(
        f"{hub.user}/{BUCKET}", [(p, str(dest / p[len(prefix) :])) for p in paths], raise_on_missing_files=True
    )
    return dest


def content_type(hub: LocalHub, path: str) -> str:
    request = urllib.request.Request(
        f"{hub.url}/buckets/{hub.user}/{BUCKET}/resolve/{path}", method="HEAD", headers={"Authorization": f"Bearer {hub.token}"}
    )
    with urllib.request.urlopen(request) as response:
        return str(response.headers["Content-Type"])


class Counter:
    """Counts batches through the query; raises after ``fail_after`` of them if given."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.batches = 0
        self.fail_after = fail_after

    def __call__(self, df: pl.DataFrame) -> pl.DataFrame:
        self.batches += 1
        if self.fail_after is not None and self.batches > self.fail_after:
            raise RuntimeError("injected failure in the middle of the stream")
        return df


def sorted_frame(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(sorted(df.columns)).sort("id")


# -- one file per format ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(READERS))
def test_sink_each_format_round_trip(fmt: str, api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source()
    path = f"single/data.{EXTENSIONS[fmt]}"
    sink = getattr(hf_bucket_sink, f"sink_{fmt}")
    result = sink(df.lazy(), uri(hub, path), storage_options=opts)

    local = download(api, hub, [path], "", tmp_path)
    assert READERS[fmt](local / path).equals(df)
    (file,) = result.files
    info = files_under(api, hub, "single/")[path]
    assert (file.uri, file.size, file.xet_hash) == (uri(hub, path), info.size, info.xet_hash)
    assert file.rows == (df.height if fmt in ("parquet", "ndjson") else None)
    # the format's type, even though ".arrow"/".jsonl" would also map by extension
    assert content_type(hub, path) == CONTENT_TYPES[fmt]


@pytest.mark.parametrize("fmt", list(READERS))
def test_write_each_format_from_eager_dataframe(fmt: str, api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source(3_000)
    path = f"eager/df.{fmt}.bin"  # unusual extension: the content type still follows the format
    getattr(hf_bucket_sink, f"write_{fmt}")(df, uri(hub, path), storage_options=opts)
    local = download(api, hub, [path], "", tmp_path)
    assert READERS[fmt](local / path).equals(df)
    assert content_type(hub, path) == CONTENT_TYPES[fmt]


def test_polars_options_pass_through_for_text_formats(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source(1_000)
    hf_bucket_sink.write_csv(df, uri(hub, "opts/semi.csv"), storage_options=opts, separator=";", include_header=False)
    hf_bucket_sink.sink_ndjson(df.lazy(), uri(hub, "opts/rows.jsonl.gz"), storage_options=opts, compression="gzip")
    local = download(api, hub, ["opts/semi.csv", "opts/rows.jsonl.gz"], "opts/", tmp_path)
    back = pl.read_csv(local / "semi.csv", separator=";", has_header=False, new_columns=df.columns)
    assert back.equals(df)
    import gzip

    assert pl.read_ndjson(gzip.decompress((local / "rows.jsonl.gz").read_bytes())).equals(df)
    assert content_type(hub, "opts/rows.jsonl.gz") == "application/gzip"
    with pytest.raises(InvalidOptionError, match="separator"):
        hf_bucket_sink.write_ndjson(df, uri(hub, "opts/x.jsonl"), storage_options=opts, separator=";")


# -- partitioned outputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson", "ipc"])
def test_key_partitioning_writes_hive_directories(fmt: str, api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source()
    prefix = f"bykey-{fmt}/"
    sink = getattr(hf_bucket_sink, f"sink_{fmt}")
    result = sink(df.lazy(), pl.PartitionBy(uri(hub, prefix), key="lang"), storage_options=opts)

    listed = files_under(api, hub, prefix)
    ext = {"ndjson": "jsonl"}.get(fmt, fmt)
    assert sorted(listed) == [f"{prefix}lang=l{i}/00000000.{ext}" for i in range(5)]
    assert [f.uri for f in result.files] == [uri(hub, p) for p in sorted(listed)]
    # every directory output has a commit point, beside the directory (not under the prefix)
    assert result.uri == uri(hub, prefix) and result.manifest is not None
    assert result.manifest.uri == uri(hub, f"_bykey-{fmt}.manifest.json")
    assert all(f.size == listed[f.uri[len(uri(hub, "")) :]].size for f in result.files)
    local = download(api, hub, sorted(listed), prefix, tmp_path / fmt)
    if fmt == "parquet":
        back = pl.scan_parquet(local, hive_partitioning=True).collect()
        assert sorted_frame(back).equals(sorted_frame(df))
        assert result.rows == df.height
    else:  # hive columns come from the directory names; the files themselves hold the other columns
        parts = []
        for path in sorted(listed):
            part = READERS[fmt](local / path[len(prefix) :])
            parts.append(part.with_columns(lang=pl.lit(path[len(prefix) :].split("/")[0].split("=")[1])) if "lang" not in part.columns else part)
        assert sorted_frame(pl.concat(parts, how="diagonal")).equals(sorted_frame(df))
    assert content_type(hub, sorted(listed)[0]) == CONTENT_TYPES[fmt]


def test_size_partitioning_max_rows_per_file(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finished_early: list[int] = []
    original = UploadSession.finish_released

    def spy(self: UploadSession) -> int:
        done = original(self)
        finished_early.append(done)
        return done

    monkeypatch.setattr(UploadSession, "finish_released", spy)
    df = source(25_000)
    prefix = "bysize/"
    result = hf_bucket_sink.sink_parquet(df.lazy(), pl.PartitionBy(uri(hub, prefix), max_rows_per_file=4_000), storage_options=opts)

    listed = files_under(api, hub, prefix)
    assert len(listed) == len(result.files) >= 7
    assert all(f.rows is not None and 0 < f.rows <= 4_000 for f in result.files)
    assert result.rows == df.height
    local = download(api, hub, sorted(listed), prefix, tmp_path)
    assert pl.scan_parquet(local).collect().sort("id").equals(df)
    # files Polars was done with were finished while the query still ran, not all at commit
    assert sum(finished_early[:-1]) > 0


def test_write_parquet_partition_by_and_custom_provider(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source(2_000)
    hf_bucket_sink.write_parquet(df, uri(hub, "eager-parts/"), storage_options=opts, partition_by="lang")
    assert len(files_under(api, hub, "eager-parts/")) == 5

    def provider(args: Any) -> str:
        return f"custom/{args.partition_keys['lang'][0]}-{args.index_in_partition}.csv"

    hf_bucket_sink.sink_csv(df.lazy(), pl.PartitionBy(uri(hub, "prov/"), key="lang", file_path_provider=provider), storage_options=opts)
    listed = sorted(files_under(api, hub, "prov/"))
    assert listed == [f"prov/custom/l{i}-0.csv" for i in range(5)]
    local = download(api, hub, listed, "prov/", tmp_path)
    back = pl.read_csv(list(local.glob("custom/*.csv"))).sort("id")
    assert back.equals(df.select(back.columns))


def test_more_than_a_batch_of_files_registers_in_order_and_commits_with_the_manifest_last(
    api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[dict[str, Any]]] = []  # the /batch requests, as sent
    original = hub_module.http_backoff

    def spy(method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/batch"):
            calls.append([json.loads(line) for line in kwargs["content"].splitlines()])
        return original(method, url, **kwargs)

    monkeypatch.setattr(hub_module, "http_backoff", spy)
    n = BATCH_LIMIT + 150
    df = pl.DataFrame({"id": pl.int_range(n, eager=True)})
    prefix = "many/"
    result = hf_bucket_sink.sink_ndjson(df.lazy(), pl.PartitionBy(uri(hub, prefix), max_rows_per_file=1), storage_options=opts)

    assert len(result.files) == n and result.rows == n
    lines = [line for call in calls for line in call]
    assert all(line["type"] == "addFile" for line in lines)  # nothing deleted: there was no previous output
    added = [line["path"] for line in lines]
    assert added[-1] == "_many.manifest.json" and calls[-1] == [lines[-1]]  # alone, in the last call
    assert added[:-1] == sorted(added[:-1])  # ordered batches
    assert all(len(call) <= BATCH_LIMIT for call in calls)

    listed = files_under(api, hub, prefix)
    assert len(listed) == n  # the manifest is beside the directory, not in it
    local = download(api, hub, ["_many.manifest.json"], "", tmp_path)
    manifest = json.loads((local / "_many.manifest.json").read_text())
    assert manifest["version"] == 2 and manifest["format"] == "ndjson" and manifest["file_count"] == n
    assert manifest["total_rows"] == n and manifest["total_bytes"] == result.size
    assert manifest["schema"] == [{"name": "id", "type": "Int64"}]
    assert manifest["retire"] == []
    assert [f["path"] for f in manifest["files"]] == [p[len(prefix) :] for p in added[:-1]]
    for entry in manifest["files"]:
        remote = listed[prefix + entry["path"]]
        assert (entry["size"], entry["xetHash"], entry["rows"]) == (remote.size, remote.xet_hash, 1)
    assert result.manifest is not None and result.manifest.uri == uri(hub, "_many.manifest.json")

    # a later, smaller overwrite replaces the output: exactly its files remain, deleted after its commit point
    calls.clear()
    small = hf_bucket_sink.sink_ndjson(df.head(3).lazy(), pl.PartitionBy(uri(hub, prefix), max_rows_per_file=1), storage_options=opts)
    assert sorted(files_under(api, hub, prefix)) == sorted(f.uri[len(uri(hub, "")) :] for f in small.files)
    kinds = [line["type"] for call in calls for line in call]
    first_delete = kinds.index("deleteFile")
    manifest_line = next(i for i, line in enumerate(line for call in calls for line in call) if line["path"] == "_many.manifest.json")
    assert manifest_line < first_delete and kinds.count("deleteFile") == n - 3


def test_partitioned_overwrite_with_fewer_keys_leaves_exactly_the_new_output(
    api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path
) -> None:
    prefix = "fewer/"
    df = source(2_000)
    hf_bucket_sink.sink_parquet(df.lazy(), pl.PartitionBy(uri(hub, prefix), key="lang"), storage_options=opts)
    # a file under the prefix that no output of ours wrote, and the previous release's inner manifest
    api.batch_bucket_files(f"{hub.user}/{BUCKET}", add=[(b"keep me", f"{prefix}notes.txt"), (b'{"version": 1, "files": []}', f"{prefix}_manifest.json")])
    assert len(files_under(api, hub, prefix)) == 7

    fewer = df.filter(pl.col("lang").is_in(["l0", "l1"]))
    result = hf_bucket_sink.sink_parquet(fewer.lazy(), pl.PartitionBy(uri(hub, prefix), key="lang"), storage_options=opts)
    listed = sorted(files_under(api, hub, prefix))
    assert listed == [f"{prefix}lang=l0/00000000.parquet", f"{prefix}lang=l1/00000000.parquet", f"{prefix}notes.txt"]
    assert result.manifest is not None
    local = download(api, hub, listed[:2], prefix, tmp_path / "back")
    assert sorted_frame(pl.scan_parquet(local, hive_partitioning=True).collect()).equals(sorted_frame(fewer))


def test_an_overwrite_of_a_directory_without_a_commit_point_names_what_it_left(
    api: HfApi, hub: LocalHub, opts: dict[str, str]
) -> None:
    # files under the prefix that no commit point lists (a 0.1-release output, a hand upload): left in
    # place, and the sink's result says which, so a user can remove them on purpose
    prefix = "legacy/"
    old = [f"{prefix}lang=l9/00000000.parquet", f"{prefix}readme.txt"]
    api.batch_bucket_files(f"{hub.user}/{BUCKET}", add=[(b"old part", old[0]), (b"notes", old[1])])
    result = hf_bucket_sink.sink_parquet(source(500).lazy(), pl.PartitionBy(uri(hub, prefix), key="lang"), storage_options=opts)
    assert sorted(result.untracked) == old
    assert result.superseded_by is None and result.unlisted == ()
    assert set(old) <= set(files_under(api, hub, prefix))
    # the output has a commit point now: the next overwrite names nothing new
    again = hf_bucket_sink.sink_parquet(source(500).lazy(), pl.PartitionBy(uri(hub, prefix), key="lang"), storage_options=opts)
    assert again.untracked == ()


def test_manifest_false_writes_no_commit_point(api: HfApi, hub: LocalHub, opts: dict[str, str]) -> None:
    result = hf_bucket_sink.sink_parquet(
        source(500).lazy(), pl.PartitionBy(uri(hub, "nomanifest/"), key="lang"), storage_options=opts, manifest=False
    )
    assert result.manifest is None
    assert files_under(api, hub, "_nomanifest") == {}
    assert len(files_under(api, hub, "nomanifest/")) == 5


# -- failures -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_failing_query_during_partitioned_sink_registers_nothing(
    fmt: str, api: HfApi, hub: LocalHub, opts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    original = UploadSession.open_partition

    def spy(self: UploadSession, target: Any, **kwargs: Any) -> Any:
        opened.append(target.path)
        return original(self, target, **kwargs)

    monkeypatch.setattr(UploadSession, "open_partition", spy)
    batches = 0

    def fail_once_files_are_open(df: pl.DataFrame) -> pl.DataFrame:
        # Polars opens a partition file only when a row group is ready, which can come after the
        # 8th batch: fail on the first batch when both hold, so the test always proves something
        nonlocal batches
        batches += 1
        if batches > 8 and opened:
            raise RuntimeError("injected failure in the middle of the stream")
        return df

    lf = pl.LazyFrame({"id": pl.int_range(2_000_000, eager=True)}).with_columns(k=pl.col("id") % 7)
    prefix = f"failing-{fmt}/"
    with pytest.raises(QueryError, match="injected failure"):
        getattr(hf_bucket_sink, f"sink_{fmt}")(
            lf.map_batches(fail_once_files_are_open, streamable=True), pl.PartitionBy(uri(hub, prefix), key="k", max_rows_per_file=10_000),
            storage_options=opts,
        )
    assert batches > 8
    assert opened, "no partition file was started before the failure: the test proves nothing"
    assert files_under(api, hub, prefix) == {}


def test_if_exists_error_fails_before_the_query_runs(hub: LocalHub, opts: dict[str, str], api: HfApi) -> None:
    df = pl.DataFrame({"a": [1, 2, 3]})
    hf_bucket_sink.write_csv(df, uri(hub, "exists/one.csv"), storage_options=opts)
    hf_bucket_sink.sink_parquet(df.lazy(), pl.PartitionBy(uri(hub, "exists/dir/"), key="a"), storage_options=opts)
    before = files_under(api, hub, "exists/")

    for target in (uri(hub, "exists/one.csv"), pl.PartitionBy(uri(hub, "exists/dir/"), key="a")):
        counter = Counter()
        with pytest.raises(BucketFileExistsError, match="if_exists"):
            hf_bucket_sink.sink_csv(df.lazy().map_batches(counter, streamable=True), target, storage_options=opts, if_exists="error")
        assert counter.batches == 0, "the query ran although the sink could have failed first"
    assert files_under(api, hub, "exists/") == before
    # free targets pass; "overwrite" (the default) replaces
    hf_bucket_sink.sink_csv(df.lazy(), uri(hub, "exists/two.csv"), storage_options=opts, if_exists="error")
    hf_bucket_sink.sink_csv(df.lazy(), pl.PartitionBy(uri(hub, "exists/dir2/"), key="a"), storage_options=opts, if_exists="error")
    hf_bucket_sink.write_csv(df.head(1), uri(hub, "exists/one.csv"), storage_options=opts)
    assert files_under(api, hub, "exists/")["exists/one.csv"].size < before["exists/one.csv"].size
    with pytest.raises(InvalidOptionError, match="if_exists"):
        hf_bucket_sink.sink_csv(df.lazy(), uri(hub, "exists/three.csv"), storage_options=opts, if_exists="append")


def test_unsupported_targets_are_rejected_when_called(hub: LocalHub, opts: dict[str, str]) -> None:
    lf = pl.LazyFrame({"a": [1]})
    with pytest.raises(UnsupportedTargetError, match="hf://buckets"):
        hf_bucket_sink.sink_csv(lf, "/tmp/local.csv", storage_options=opts)
    with pytest.raises(UnsupportedTargetError, match="base path"):
        hf_bucket_sink.sink_ipc(lf, pl.PartitionBy("/tmp/dir/", key="a"), storage_options=opts)


# -- install() -----------------------------------------------------------------------------------------


def test_install_routes_every_format_method(api: HfApi, hub: LocalHub, opts: dict[str, str], tmp_path: Path) -> None:
    df = source(500)
    hf_bucket_sink.install()
    try:
        for fmt in READERS:
            getattr(df.lazy(), f"sink_{fmt}")(uri(hub, f"installed/lazy.{fmt}"), storage_options=opts)
            getattr(df, f"write_{fmt}")(uri(hub, f"installed/eager.{fmt}"), storage_options=opts)
        df.lazy().sink_csv(pl.PartitionBy(uri(hub, "installed/parts/"), key="lang"), storage_options=opts)
        df.lazy().sink_ipc(tmp_path / "plain.ipc")  # other targets still reach Polars untouched
        with pytest.raises(UnsupportedTargetError, match="sink_csv"):
            df.write_json(uri(hub, "installed/x.json"))
    finally:
        hf_bucket_sink.uninstall()
    assert pl.read_ipc(tmp_path / "plain.ipc").equals(df)
    names = [f"installed/{kind}.{fmt}" for fmt in READERS for kind in ("lazy", "eager")]
    local = download(api, hub, names, "installed/", tmp_path / "dl")
    for fmt in READERS:
        for kind in ("lazy", "eager"):
            assert READERS[fmt](local / f"{kind}.{fmt}").equals(df), (fmt, kind)
    assert len(files_under(api, hub, "installed/parts/")) == 5


def sink_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("hf-bucket-sink")]


@pytest.mark.parametrize("partitioned", [False, True, "by-size"], ids=["one-file", "partitioned", "by-size"])
def test_no_upload_threads_left_running_after_a_failed_sink(
    partitioned: bool | str, api: HfApi, hub: LocalHub, opts: dict[str, str]
) -> None:
    # Self-contained (it used to check leftovers of earlier tests, so it passed when run alone):
    # prove the sink's threads existed mid-query, fail the query, and look right after the raise.
    seen: list[list[str]] = []

    def fail_late(df: pl.DataFrame) -> pl.DataFrame:
        seen.append(sink_threads())
        finishing = any(n.startswith("hf-bucket-sink-finish") for n in seen[-1])
        if len(seen) > 12 and (partitioned != "by-size" or finishing):
            raise RuntimeError("injected failure while the sink streams")
        return df

    # hashed ids do not compress: more than one 4 MiB block reaches the writer before the failure,
    # so the single-file writer has started its uploader thread (a file under one block has none)
    lf = pl.LazyFrame({"id": pl.int_range(2_000_000, eager=True)}).with_columns(k=pl.col("id") % 3, h=pl.col("id").hash(7))
    lf = lf.map_batches(fail_late, streamable=True)
    target = f"hf://buckets/{hub.user}/{BUCKET}/threads-{partitioned}/"
    with pytest.raises(hf_bucket_sink.QueryError):
        if partitioned == "by-size":  # files released while the query runs: the finisher threads are up, idle or busy
            hf_bucket_sink.sink_parquet(lf, pl.PartitionBy(target, max_rows_per_file=5_000), storage_options=opts)
        elif partitioned:
            hf_bucket_sink.sink_parquet(lf, pl.PartitionBy(target, key="k"), storage_options=opts)  # type: ignore[attr-defined]
        else:
            hf_bucket_sink.sink_parquet(lf, target + "x.parquet", storage_options=opts)
    assert len(seen) > 12, "the failure was not injected"
    # the sink's threads (uploader, finishers and/or stall watchdog) were running mid-query, and none is left
    assert any(names for names in seen), seen
    if partitioned == "by-size":
        assert any(n.startswith("hf-bucket-sink-finish") for names in seen for n in names), seen
    assert sink_threads() == []


def test_a_reader_never_sees_a_partitioned_output_half_registered(local_hub_factory: Callable[..., Any]) -> None:
    # <= BATCH_LIMIT files must land in one /batch call (then the manifest alone): a second client
    # listing the folder while the sink commits sees 0 files, all of them, or all plus the manifest.
    import threading

    hub = local_hub_factory(faults={"hub_api": {"latency": 0.03}})  # widens any gap between /batch calls
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket(f"{hub.user}/{BUCKET}")
    n = 24
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(sum(1 for f in api.list_bucket_tree(f"{hub.user}/{BUCKET}", prefix="whole", recursive=True) if hasattr(f, "size")))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        df = pl.DataFrame({"id": pl.int_range(n, eager=True)})
        result = hf_bucket_sink.sink_ndjson(
            df.lazy(), pl.PartitionBy(uri(hub, "whole/"), max_rows_per_file=1), storage_options={"token": hub.token, "endpoint": hub.url}
        )
    finally:
        done.set()
        thread.join()
    assert len(result.files) == n and len(seen) >= 3, seen
    assert set(seen) <= {0, n, n + 1}, f"a reader saw a partial output: {sorted(set(seen))}"


def test_two_partitions_with_one_path_are_refused(api: HfApi, hub: LocalHub, opts: dict[str, str]) -> None:
    # one partition silently replacing another would lose rows without any error
    df = pl.DataFrame({"k": [1, 2, 3] * 10, "v": range(30)})
    spec = pl.PartitionBy(uri(hub, "same-path/"), key="k", file_path_provider=lambda args: "one.parquet")
    with pytest.raises(hf_bucket_sink.BucketSinkError, match="same file"):
        hf_bucket_sink.sink_parquet(df.lazy(), spec, storage_options=opts)
    assert files_under(api, hub, "same-path/") == {}


def test_partitions_polars_released_are_stored_while_the_query_runs(
    api: HfApi, hub: LocalHub, opts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files Polars is done with are finished while the query goes on, and every files_per_commit of
    # them their hf_xet commit is waited for then: the Xet server receives their shard before the
    # query ends (hf_xet frees those files' state), not all shards at the end.
    import dataclasses

    from hf_bucket_sink.polars import sinks as sinks_module

    original_tuning = sinks_module._tuning_for
    monkeypatch.setattr(sinks_module, "_tuning_for", lambda *a: dataclasses.replace(original_tuning(*a), files_per_commit=100))
    shards_at_query_end: list[int] = []
    original_store = UploadSession.store

    def at_query_end(self: UploadSession) -> Any:  # the sink calls store() once Polars has returned
        shards_at_query_end.append(hub.stats()["shards_received"])
        return original_store(self)

    monkeypatch.setattr(UploadSession, "store", at_query_end)
    before = hub.stats()["shards_received"]
    n = 600
    df = pl.DataFrame({"id": pl.int_range(n * 10, eager=True)}).with_columns(h=pl.col("id").hash(3))
    prefix = "released/"
    result = hf_bucket_sink.sink_parquet(df.lazy(), pl.PartitionBy(uri(hub, prefix), max_rows_per_file=10), storage_options=opts)
    assert len(result.files) == n and len(files_under(api, hub, prefix)) == n and result.rows == n * 10
    # groups of 100: at least the first few were stored while Polars still wrote the rest
    assert shards_at_query_end and shards_at_query_end[0] - before >= 2, (before, shards_at_query_end)
