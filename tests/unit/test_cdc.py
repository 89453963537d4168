"""The CDC Parquet writer: option validation, round trips, and where row groups are cut."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from hf_bucket_sink.polars.cdc import CDC_DEFAULTS, CDC_KEYS, _content_row_groups, cdc_options, write_cdc_parquet
from hf_bucket_sink.errors import InvalidOptionError


def sample(n: int = 5_000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.int_range(n, eager=True),
            "name": [f"name-{i % 97}" if i % 13 else None for i in range(n)],
            "cat": pl.Series([("a", "b", "c")[i % 3] for i in range(n)], dtype=pl.Categorical),
            "day": [date(2024, 1, 1 + i % 28) for i in range(n)],
            "price": pl.Series([Decimal(i % 1000) / 100 for i in range(n)], dtype=pl.Decimal(15, 2)),
            "x": [i * 0.5 for i in range(n)],
            "tags": [[f"t{i % 5}"] * (i % 3) for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
        }
    )


def write(frame: pl.DataFrame | pl.LazyFrame, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    write_cdc_parquet(frame, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


# -- option validation ---------------------------------------------------------------------------


def test_cdc_options_defaults_and_merge() -> None:
    assert cdc_options(True) == dict(CDC_DEFAULTS)
    assert cdc_options(False) is False
    assert cdc_options(None) is False
    assert cdc_options({"max_chunk_size": 2 << 20}) == {**CDC_DEFAULTS, "max_chunk_size": 2 << 20}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"min_size": 1}, "unknown key"),
        ({"norm_level": "1"}, "must be an int"),
        ({"norm_level": True}, "must be an int"),
        ({"min_chunk_size": 0}, ">= 1"),
        ({"min_chunk_size": 1 << 20, "max_chunk_size": 1 << 19}, "greater than"),
        ({"norm_level": 99}, "not accepted by pyarrow"),
        ("yes", "must be True, False"),
    ],
)
def test_cdc_options_rejects_bad_values(value: object, fragment: str) -> None:
    with pytest.raises(InvalidOptionError, match=fragment) as info:
        cdc_options(value)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    if "unknown key" in fragment:
        assert all(key in str(info.value) for key in CDC_KEYS)  # the message lists what is accepted


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compression": "lzo"},
        {"compression_level": "high"},
        {"row_group_size": 0},
        {"row_group_size": 1.5},
        {"data_page_size": -1},
        {"row_group_cuts": "random"},
        {"row_group_key": "nope"},
        {"statistics": "full"},
        {"metadata": [("a", "b")]},
    ],
)
def test_write_rejects_bad_options_before_running(kwargs: dict[str, object]) -> None:
    ran = []

    def spy(df: pl.DataFrame) -> pl.DataFrame:
        ran.append(df.height)
        return df

    lf = sample(10).lazy().map_batches(spy, schema=sample(1).schema)
    with pytest.raises(InvalidOptionError):
        write(lf, **kwargs)
    assert not ran  # the query never started


def test_not_a_frame() -> None:
    with pytest.raises(InvalidOptionError, match="LazyFrame or DataFrame"):
        write_cdc_parquet([1, 2], io.BytesIO())  # type: ignore[arg-type]


# -- output ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cdc", [True, False, {"min_chunk_size": 1024, "max_chunk_size": 4096, "norm_level": 1}])
@pytest.mark.parametrize("cuts", ["content", "fixed"])
def test_round_trip_equals_polars_frame(cdc: object, cuts: str) -> None:
    df = sample()
    data = write(df.lazy(), cdc=cdc, row_group_size=700, row_group_cuts=cuts, compression="snappy")
    assert_frame_equal(pl.read_parquet(io.BytesIO(data)), df)


def test_metadata_and_row_count() -> None:
    df = sample(1234)
    buf = io.BytesIO()
    rows = write_cdc_parquet(df, buf, metadata={"origin": "test"})
    assert rows == 1234
    meta = pq.ParquetFile(io.BytesIO(buf.getvalue())).schema_arrow.metadata
    assert meta[b"origin"] == b"test"


def test_empty_frame_writes_a_valid_file() -> None:
    df = sample(0)
    data = write(df.lazy())
    assert_frame_equal(pl.read_parquet(io.BytesIO(data)), df)


def test_string_view_input_is_written_as_large_string() -> None:
    import pyarrow as pa

    from hf_bucket_sink.polars.cdc import portable_schema

    schema = portable_schema(pa.schema([("s", pa.string_view()), ("l", pa.list_(pa.binary_view()))]))
    assert schema.field("s").type == pa.large_string()
    assert schema.field("l").type == pa.list_(pa.large_binary())


def test_fixed_row_groups_are_exact_whatever_the_batches() -> None:
    df = sample(10_000)
    f = pq.ParquetFile(io.BytesIO(write(df.lazy(), row_group_size=3_000, row_group_cuts="fixed")))
    assert [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)] == [3_000, 3_000, 3_000, 1_000]


def test_identical_input_gives_identical_bytes() -> None:
    df = sample(20_000)
    assert write(df.lazy(), row_group_size=2_000) == write(df.lazy(), row_group_size=2_000)


def _cuts(frames: list[pl.DataFrame], size: int) -> list[tuple[int, int]]:
    schema = frames[0].to_arrow().schema
    return [(t.column("id")[0].as_py(), t.num_rows) for t in _content_row_groups(frames, size, "id", schema)]


def test_content_cuts_do_not_depend_on_batch_boundaries() -> None:
    df = pl.DataFrame({"id": pl.int_range(200_000, eager=True)})
    one = _cuts([df], 10_000)
    many = _cuts([df.slice(i, 3_333) for i in range(0, df.height, 3_333)], 10_000)
    assert one == many
    sizes = [n for _, n in one[:-1]]
    assert min(sizes) >= 5_000 and max(sizes) <= 20_000  # between half and twice the target


def test_content_cuts_resynchronise_after_an_insert() -> None:
    df = pl.DataFrame({"id": pl.int_range(200_000, eager=True)})
    edited = pl.concat([df.slice(0, 50_000), pl.DataFrame({"id": pl.int_range(10**9, 10**9 + 2_000, eager=True)}), df.slice(50_000)])
    before, after = _cuts([df], 10_000), _cuts([edited], 10_000)
    # every group that starts after the edit's neighbourhood is the same rows as before
    later = [g for g in before if g[0] > 80_000]
    assert later and all(g in after for g in later)


def test_query_error_propagates_without_a_footer() -> None:
    def boom(df: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("boom")

    lf = sample(10).lazy().map_batches(boom, schema=sample(1).schema)
    buf = io.BytesIO()
    with pytest.raises(Exception, match="boom"):
        write_cdc_parquet(lf, buf)
    assert not buf.getvalue().endswith(b"PAR1") or len(buf.getvalue()) <= 4  # never a complete file
