"""A failed sink returns only after its own threads are gone, even when they were blocked on a slow link.

The uploader thread of a single-file sink blocks inside hf_xet while the link is slower than the
query. A query failure then aborts the writer, and the abort must *join* that thread: a thread that
is merely told to stop is still alive when ``sink_parquet`` raises (seen with the join removed).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink import QueryError

from reliability_helpers import client_threads


def test_a_failed_sink_joins_an_uploader_blocked_on_a_slow_link(local_hub_factory: Any) -> None:
    hub = local_hub_factory(bandwidth_limit=1e6)  # 1 MB/s: the uploader falls far behind the query
    HfApi(endpoint=hub.url, token=hub.token).create_bucket("data")
    opts = {"token": hub.token, "endpoint": hub.url}
    produced: list[int] = []
    blocked_at_failure: list[list[str]] = []

    def fail_after_the_link_is_full(df: pl.DataFrame) -> pl.DataFrame:
        produced.append(df.estimated_size())
        if sum(produced) > 48 << 20:  # far more than the queue and hf_xet's buffers take at 1 MB/s
            blocked_at_failure.append(client_threads())
            raise RuntimeError("injected failure while the uploader is blocked")
        return df

    rng = np.random.default_rng(5)
    frame = pl.DataFrame({"x": rng.random(8_000_000)})  # 64 MB of incompressible floats
    lf = frame.lazy().map_batches(fail_after_the_link_is_full, streamable=True)
    started = time.monotonic()
    try:
        hf_bucket_sink.sink_parquet(
            lf, "hf://buckets/local/data/blocked.parquet", compression="uncompressed", storage_options=opts
        )
    except QueryError:
        pass
    else:  # pragma: no cover - the fault did not fire
        raise AssertionError("the sink succeeded: the injected failure never fired")
    left = client_threads()
    elapsed = time.monotonic() - started
    # the fault fired while the uploader thread was alive (it had 48 MB it could not send yet at 1 MB/s)
    assert blocked_at_failure, "the injected failure never fired"
    assert any(n.startswith("hf-bucket-sink-upload") for n in blocked_at_failure[0]), blocked_at_failure
    assert elapsed < 40, f"the failed sink took {elapsed:.1f} s to return"
    assert left == [], f"threads still alive when sink_parquet raised: {left} (after {elapsed:.1f} s)"


def test_a_refused_shard_fails_the_store_and_registers_nothing(local_hub_factory: Any) -> None:
    # Xet refuses every shard upload (500; retried with the 50 ms base delay of conftest until hf_xet gives up): the bytes are not stored, so the sink must
    # stop at the store with an UploadError and never reach the registration step.
    hub = local_hub_factory(faults={"cas_shard": {"error_rate": 1.0, "status": 500}})
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("data")
    opts = {"token": hub.token, "endpoint": hub.url}
    rng = np.random.default_rng(9)
    lf = pl.DataFrame({"x": rng.random(200_000)}).lazy()
    try:
        hf_bucket_sink.sink_parquet(lf, "hf://buckets/local/data/refused.parquet", storage_options=opts)
    except hf_bucket_sink.UploadError as exc:
        message = str(exc)
    else:  # pragma: no cover - the fault did not fire
        raise AssertionError("the sink succeeded although every shard upload was refused")
    injected = hub.stats()["faults"]["injected"]
    assert injected.get("errors", 0) >= 1, injected  # the fault fired
    assert "Xet" in message and "registered" in message, message
    assert [e.path for e in api.list_bucket_tree("local/data", recursive=True)] == []
