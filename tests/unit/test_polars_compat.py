"""The Polars adapter: the supported range is stated here, and each internal it relies on still exists."""

from __future__ import annotations

import polars as pl
import pytest

from hf_bucket_sink.polars import compat


def test_installed_polars_is_in_the_supported_range() -> None:
    # Polars 2.1.x is what every behaviour in docs/architecture.md was measured on; a new minor
    # release must be measured again before the range grows.
    assert compat.SUPPORTED_POLARS == ((2, 1), (2, 2))
    compat.check_polars_version()


@pytest.mark.parametrize("version", ["2.0.9", "2.2.0", "3.0.0", "1.40.1"])
def test_outside_the_range_fails_loudly(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_BUCKET_SINK_ALLOW_ANY_POLARS", raising=False)
    with pytest.raises(ImportError, match=rf"Polars {version} is installed.*pip install"):
        compat.check_polars_version(version)


def test_the_escape_hatch_is_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_BUCKET_SINK_ALLOW_ANY_POLARS", "1")
    compat.check_polars_version("9.9.9")


def test_partition_spec_round_trips_with_our_provider() -> None:
    target = pl.PartitionBy("hf://buckets/me/b/out/", key="lang", max_rows_per_file=10)
    spec = compat.partition_spec(target)
    assert spec.base_path == "hf://buckets/me/b/out/" and spec.max_rows_per_file == 10

    def provider(args: object) -> str:
        return "x"

    rebuilt = compat.with_file_path_provider(spec, provider)
    assert isinstance(rebuilt, pl.PartitionBy)
    assert compat.partition_spec(rebuilt).file_path_provider is provider
    assert compat.partition_spec(rebuilt).key == spec.key


def test_key_expressions_are_described_as_polars_prints_them() -> None:
    spec = compat.partition_spec(pl.PartitionBy("x/", key=["lang", pl.col("year")]))
    assert compat.describe_expressions(spec.key) == ['col("lang")', 'col("year")']
    assert compat.describe_expressions(None) is None


def test_original_is_found_through_an_install_wrapper() -> None:
    def wrapper() -> None: ...

    compat.mark_original(wrapper, pl.LazyFrame.sink_parquet)
    assert compat.original(wrapper) is pl.LazyFrame.sink_parquet
    assert compat.original(pl.LazyFrame.sink_csv) is pl.LazyFrame.sink_csv


def test_polars_drops_partition_files_without_closing_them(tmp_path: object) -> None:
    # The partitioned sinks finish a partition's upload when Polars drops its file object; if a
    # Polars release starts calling close() (or stops dropping), this is where it shows.
    import io
    import weakref

    closed: list[int] = []
    dropped: list[int] = []

    class File(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:  # type: ignore[override]
            return memoryview(data).nbytes  # type: ignore[arg-type]

        def close(self) -> None:
            closed.append(1)
            super().close()

    def provider(args: object) -> File:
        f = File()
        weakref.finalize(f, dropped.append, 1)
        return f

    spec = compat.partition_spec(pl.PartitionBy("unused/", key="k"))
    pl.LazyFrame({"k": [1, 2, 3], "v": [1, 2, 3]}).sink_parquet(compat.with_file_path_provider(spec, provider))
    import gc

    gc.collect()
    assert len(dropped) == 3
    assert closed == [] or len(closed) == len(dropped)  # closing only on collection (IOBase.__del__) is fine
