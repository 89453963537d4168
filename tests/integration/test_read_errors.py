"""Read path errors (issue 18.5): every failure of a bucket scan is one of the project's typed errors.

A hypothesis test drives the public scan functions with random paths, globs and options against a
local Hub and collects: the answer is a frame or an exception whose class is one of the project's
typed errors, also for failures found while Polars plans the query (which Polars 2.1 itself wraps
in a ``ComputeError``: the scan gives back the cause's class, polars/scans.py), or Polars' own
schema-drift answer. Never a ``PanicException``, never a ``ComputeError``, never another class.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hf_bucket_sink
from hf_bucket_sink import errors
from hf_bucket_sink.localhub import LocalHub

TYPED = tuple(getattr(errors, name) for name in errors.__all__)
# what Polars 2.1 puts before an exception raised by an IO plugin's schema callable
WRAPPED = re.compile(r"schema callable failed: (\w+):")
#: typed errors the test met, by class name (the hypothesis run must meet planning-time ones)
SEEN: set[str] = set()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        api = HfApi(endpoint=h.url, token=h.token)
        api.create_bucket(f"{h.user}/err")
        df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        files = []
        for fmt in ("parquet", "csv", "ndjson", "ipc"):
            out = io.BytesIO()
            getattr(df, f"write_{fmt}")(out)
            files += [(out.getvalue(), f"data/k=1/f.{fmt}"), (out.getvalue(), f"data/k=2/f.{fmt}")]
        api.batch_bucket_files(f"{h.user}/err", add=files)
        yield h


def assert_typed(exc: BaseException) -> None:
    assert not isinstance(exc, pl.exceptions.PanicException), repr(exc)
    assert not isinstance(exc, pl.exceptions.ComputeError), f"Polars' wrapper instead of the cause's class: {exc}"
    if isinstance(exc, TYPED):
        SEEN.add(type(exc).__name__)
        return
    if isinstance(exc, (pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError)) and not WRAPPED.search(str(exc)):
        return  # Polars' own answer on schema drift, as on local files (test_read_parity.py)
    raise AssertionError(f"untyped error: {type(exc).__name__}: {exc}")


segments = st.sampled_from(["data", "k=1", "k=3", "f.parquet", "f.csv", "*", "**", "*.parquet", "f.?sv", "[kx]=1", "missing", "..", ".", "é", "a b", ""])
prefixes = st.sampled_from(["hf://buckets/{user}/err/", "hf://buckets/{user}/none/", "hf://buckets/{user}/", "hf://buckets/x/", "hf://buckets/"])
options = st.fixed_dictionaries(
    {},
    optional={
        "glob": st.booleans(),
        "hive_partitioning": st.sampled_from([None, True, False]),
        "n_rows": st.sampled_from([None, 0, 2]),
        "row_index_name": st.sampled_from([None, "i"]),
        "hidden_file_prefix": st.sampled_from([None, "_", "k="]),
        "no_such_option": st.just(1),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["parquet", "csv", "ndjson", "ipc"]),
    prefix=prefixes,
    parts=st.lists(segments, max_size=4),
    opts=options,
    as_list=st.booleans(),
)
# found by this test in CI: a '**' NDJSON scan met the CSV file first and Polars' parse error
# (ComputeError) escaped untyped
@example(fmt="ndjson", prefix="hf://buckets/{user}/err/", parts=["**"], opts={}, as_list=False)
def test_random_paths_and_options_give_a_frame_or_a_typed_error(
    hub: LocalHub, fmt: str, prefix: str, parts: list[str], opts: dict[str, Any], as_list: bool
) -> None:
    source: Any = prefix.format(user=hub.user) + "/".join(parts)
    if as_list:
        source = [source, source]
    storage = {"token": hub.token, "endpoint": hub.url}
    try:
        lf = getattr(hf_bucket_sink, f"scan_{fmt}")(source, storage_options=storage, **opts)
        lf.collect()
    except BaseException as exc:  # the point of the test: classify whatever comes out
        assert_typed(exc)


def test_planning_failures_arrive_as_their_own_class(hub: LocalHub) -> None:
    """The cases the random test is most likely to meet, fixed: each found while Polars plans."""
    storage = {"token": hub.token, "endpoint": hub.url}
    cases = [
        (f"hf://buckets/{hub.user}/err/data/missing.parquet", errors.BucketFileNotFoundError, FileNotFoundError),
        (f"hf://buckets/{hub.user}/none/x.parquet", errors.BucketNotFoundError, FileNotFoundError),
        (f"hf://buckets/{hub.user}/err/nowhere/**/*.parquet", errors.BucketFileNotFoundError, FileNotFoundError),
    ]
    for source, cls, builtin in cases:
        with pytest.raises(cls) as caught:
            hf_bucket_sink.scan_parquet(source, storage_options=storage).select(pl.len()).collect()
        assert isinstance(caught.value, builtin)
        assert WRAPPED.search(str(caught.value)) is None  # the project's message, not Polars' wrapper text
    with pytest.raises(errors.AuthenticationError):
        hf_bucket_sink.scan_csv(f"hf://buckets/{hub.user}/err/data/", storage_options={**storage, "token": "hf_bad"}).collect()


def test_a_mixed_list_of_local_and_bucket_sources_fails_before_the_query(hub: LocalHub, tmp_path: Any) -> None:
    local = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(local)
    hf_bucket_sink.install()
    try:
        before = hub.stats()["requests_started"]
        for sources in ([str(local), f"hf://buckets/{hub.user}/err/data/k=1/f.parquet"], [f"hf://buckets/{hub.user}/err/data/", local]):
            with pytest.raises(errors.InvalidOptionError, match="Every source must be an hf://buckets URI"):
                pl.scan_parquet(sources, storage_options={"token": hub.token, "endpoint": hub.url})
        assert hub.stats()["requests_started"] == before  # refused before anything was sent
    finally:
        hf_bucket_sink.uninstall()
