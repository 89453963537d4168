"""Shared set-up of the reliability suite (issue 7): fast hf_xet retries, soak scaling, helpers.

Fault tests must not wait for hf_xet's production backoff (3, 9, 27 s…): every test here runs with
``HF_XET_CLIENT_RETRY_BASE_DELAY=50ms`` (the upload module builds a new Xet session when ``HF_XET_*``
changes). ``@pytest.mark.slow`` variants run only with ``HF_BUCKET_SINK_SOAK=1`` (set by
``benchmarks/soak.py``), which also scales them with ``HF_BUCKET_SINK_SOAK_SCALE``.
"""

from __future__ import annotations

import pytest

from reliability_helpers import SOAK


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak variant: run `python benchmarks/soak.py` (sets HF_BUCKET_SINK_SOAK=1)")
    for item in items:
        if "slow" in item.keywords and "reliability" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_xet_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_XET_CLIENT_RETRY_BASE_DELAY", "50ms")
