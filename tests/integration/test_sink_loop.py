"""A loop of sinks in one process: from the second upload of a configuration on, the next hf_xet
upload commit is prepared while the current upload runs (core/xet.py), and the next sink uses it.

What must hold: the files are the ones written and deduplicate as usual; no thread of ours outlives a
sink; a failed sink keeps nothing prepared; a prepared commit is never handed to another
configuration (another user's token) nor used once its seeded CAS token is about to expire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import QueryError
from hf_bucket_sink.core import xet
from hf_bucket_sink.localhub import LocalHub

OTHER_TOKEN = "hf_loop_other_token"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub"), extra_tokens=[("local", OTHER_TOKEN, "write")]) as h:
        HfApi(endpoint=h.url, token=h.token).create_bucket(f"{h.user}/loop", exist_ok=True)
        yield h


@pytest.fixture(autouse=True)
def _empty_slot() -> Iterator[None]:
    xet.discard_prepared()
    xet._last_key = None
    yield
    xet.discard_prepared()


@pytest.fixture
def aborted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Prepared commits that were dropped (aborted) instead of used."""
    seen: list[Any] = []
    original = xet._abort_commit

    def record(commit: Any) -> None:
        seen.append(commit)
        original(commit)

    monkeypatch.setattr(xet, "_abort_commit", record)
    return seen


def _ours() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("hf-bucket-sink")]


def _frame(seed: int) -> pl.DataFrame:
    return pl.DataFrame({"i": pl.int_range(20_000, eager=True) * seed, "s": [f"row {k * seed}" for k in range(20_000)]})


def _uri(hub: LocalHub, name: str) -> str:
    return f"hf://buckets/{hub.user}/loop/{name}.parquet"


def test_a_loop_uses_the_prepared_commits_and_deduplicates(hub: LocalHub, opts: dict[str, str], aborted: list[Any]) -> None:
    frames = [_frame(1), _frame(2), _frame(2), _frame(3)]  # the third repeats the second
    results, used = [], []
    for k, df in enumerate(frames):
        prepared = xet._prepared.commit if xet._prepared is not None else None
        results.append(hf_bucket_sink.sink_parquet(df, _uri(hub, f"f{k}"), storage_options=opts))
        used.append(prepared)
        assert _ours() == [], f"sink {k} left threads: {_ours()}"
    # sink 0 and 1 build their own commit; sink 1 prepares sink 2's, sink 2 prepares sink 3's
    assert used[0] is None and used[1] is None
    assert used[2] is not None and used[3] is not None and used[2] is not used[3]
    assert xet._prepared is not None and xet._prepared.commit is not None  # ready for a fifth sink
    assert aborted == []  # every prepared commit was used
    for k, df in enumerate(frames):
        assert hf_bucket_sink.read_parquet(_uri(hub, f"f{k}"), storage_options=opts).equals(df)
    # sink 2's commit was built while sink 1 was still uploading the same bytes: it deduplicates anyway
    assert results[1].new_bytes > 0
    assert results[2].new_bytes == 0, results[2]


def test_a_sink_returns_after_a_slow_prepare_thread_ended(hub: LocalHub, opts: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # the build is slower than the upload here (a loaded machine, a slow hf_xet client set-up), so
    # a sink that did not join it would return with the thread still running
    builds: list[float] = []
    original = xet._build

    def slow_build(prepared: Any, session: Any, kwargs: dict[str, Any]) -> None:
        builds.append(time.monotonic())
        time.sleep(0.5)
        original(prepared, session, kwargs)

    monkeypatch.setattr(xet, "_build", slow_build)
    for k in range(2):
        started = time.monotonic()
        hf_bucket_sink.sink_parquet(_frame(k + 5), _uri(hub, f"slow{k}"), storage_options=opts)
        assert _ours() == [], f"sink {k} returned with threads running: {_ours()}"
    assert len(builds) == 1 and builds[0] >= started  # the fault fired: sink 1 prepared the next commit slowly
    assert time.monotonic() - builds[0] >= 0.5  # and returned only after the build


def test_a_failed_sink_keeps_nothing_prepared(hub: LocalHub, opts: dict[str, str], aborted: list[Any]) -> None:
    for k in range(2):
        hf_bucket_sink.sink_parquet(_frame(1), _uri(hub, f"ok{k}"), storage_options=opts)
    assert xet._prepared is not None
    bad = pl.LazyFrame({"x": ["a"]}).select(pl.col("x").cast(pl.Int64, strict=True))
    with pytest.raises(QueryError):
        hf_bucket_sink.sink_parquet(bad, _uri(hub, "bad"), storage_options=opts)
    assert xet._prepared is None
    assert len(aborted) == 1  # the commit prepared during the failed sink, never used
    assert _ours() == []


def test_another_token_never_gets_a_commit_prepared_for_the_first(hub: LocalHub, opts: dict[str, str], aborted: list[Any]) -> None:
    for k in range(2):
        hf_bucket_sink.sink_parquet(_frame(1), _uri(hub, f"a{k}"), storage_options=opts)
    mine = xet._prepared.commit if xet._prepared is not None else None
    assert mine is not None
    other = {**opts, "token": OTHER_TOKEN}
    hf_bucket_sink.sink_parquet(_frame(4), _uri(hub, "b"), storage_options=other)
    assert aborted == [mine]  # dropped, not used by the other token's sink
    assert hf_bucket_sink.read_parquet(_uri(hub, "b"), storage_options=opts).equals(_frame(4))


def test_a_prepared_commit_whose_token_is_about_to_expire_is_not_used(
    hub: LocalHub, opts: dict[str, str], aborted: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in range(2):
        hf_bucket_sink.sink_parquet(_frame(1), _uri(hub, f"e{k}"), storage_options=opts)
    stale = xet._prepared.commit if xet._prepared is not None else None
    assert stale is not None
    monkeypatch.setattr(xet, "PREPARED_MIN_LIFETIME_S", 10.0 * 365 * 86400)  # every token is "about to expire"
    hf_bucket_sink.sink_parquet(_frame(5), _uri(hub, "e2"), storage_options=opts)
    assert stale in aborted
    assert hf_bucket_sink.read_parquet(_uri(hub, "e2"), storage_options=opts).equals(_frame(5))


def test_the_progress_display_of_a_prepared_commit_is_the_claiming_sinks() -> None:
    relay = xet._Relay()
    calls: list[tuple[Any, Any]] = []
    relay("before", {})  # not claimed yet: nowhere to draw
    relay.target = lambda group, items: calls.append((group, items))
    relay("after", {})
    assert calls == [("after", {})]


def test_prepare_commits_zero_builds_each_commit_when_its_sink_starts(
    hub: LocalHub, opts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_BUCKET_SINK_PREPARE_COMMITS", "0")
    for k in range(3):
        hf_bucket_sink.sink_parquet(_frame(1), _uri(hub, f"z{k}"), storage_options=opts)
        assert xet._prepared is None
    monkeypatch.setenv("HF_BUCKET_SINK_PREPARE_COMMITS", "maybe")
    with pytest.raises(hf_bucket_sink.InvalidOptionError, match="HF_BUCKET_SINK_PREPARE_COMMITS"):
        hf_bucket_sink.sink_parquet(_frame(1), _uri(hub, "z3"), storage_options=opts)


def test_a_partitioned_sink_prepares_nothing_after_its_manifest(hub: LocalHub, opts: dict[str, str], aborted: list[Any]) -> None:
    # data session, then the manifest's own session: the manifest ends the write, so nothing is
    # prepared after it (a one-off partitioned sink would otherwise wait for a commit nobody uses)
    df = pl.DataFrame({"k": [1, 1, 2], "v": ["a", "b", "c"]})
    base = f"hf://buckets/{hub.user}/loop/parts"
    for k in range(2):
        hf_bucket_sink.sink_parquet(df, pl.PartitionBy(f"{base}{k}/", key="k"), storage_options=opts)
        assert xet._prepared is None, f"partitioned sink {k} left a prepared commit"
        assert _ours() == []
    assert aborted == []  # the second sink's manifest used the commit its data session prepared
    back = hf_bucket_sink.read_parquet(f"{base}1/", storage_options=opts)
    assert back.sort("v").select("v").to_series().to_list() == ["a", "b", "c"]
