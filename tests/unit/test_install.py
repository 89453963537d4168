"""``hf_bucket_sink.install()`` / ``uninstall()`` (``hooks``): both hooks on together, both restored together.

No Hub needed: what is checked is what Polars' classes and fsspec's registry hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import fsspec
import polars as pl
import pytest

import hf_bucket_sink
from hf_bucket_sink import hooks
from hf_bucket_sink.filesystem import BucketFileSystem
from hf_bucket_sink.polars import install as polars_hook


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    hf_bucket_sink.uninstall()
    yield
    hf_bucket_sink.uninstall()


def test_install_turns_on_both_hooks_and_uninstall_restores_both() -> None:
    sink, scan, previous_hf = pl.LazyFrame.sink_parquet, pl.scan_parquet, fsspec.get_filesystem_class("hf")
    assert previous_hf is not BucketFileSystem
    hf_bucket_sink.install()
    hf_bucket_sink.install()  # idempotent: the second call must not record our wrappers as "the originals"
    assert pl.LazyFrame.sink_parquet is not sink and pl.scan_parquet is not scan
    assert fsspec.get_filesystem_class("hf") is BucketFileSystem
    hf_bucket_sink.uninstall()
    assert pl.LazyFrame.sink_parquet is sink and pl.scan_parquet is scan
    assert fsspec.get_filesystem_class("hf") is previous_hf
    assert not polars_hook.is_installed()


def test_public_names_are_the_hooks_module() -> None:
    assert hf_bucket_sink.install is hooks.install and hf_bucket_sink.uninstall is hooks.uninstall


def test_a_failing_fsspec_hook_takes_the_polars_hook_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = pl.LazyFrame.sink_parquet
    calls: list[str] = []

    def broken() -> None:
        calls.append("register")
        raise RuntimeError("injected: fsspec registration failed")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="injected"):
        patch.setattr(hooks, "register_filesystem", broken)
        hf_bucket_sink.install()
    assert calls == ["register"]  # the fault fired, after the Polars hook went on
    assert pl.LazyFrame.sink_parquet is sink and not polars_hook.is_installed()


def test_uninstall_restores_fsspec_even_when_the_polars_part_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    previous_hf = fsspec.get_filesystem_class("hf")
    hf_bucket_sink.install()
    real_uninstall = polars_hook.uninstall

    def broken() -> None:
        real_uninstall()
        raise RuntimeError("injected: Polars restore failed")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="injected"):
        patch.setattr(polars_hook, "uninstall", broken)
        hf_bucket_sink.uninstall()
    assert fsspec.get_filesystem_class("hf") is previous_hf
