"""The public surface is small, declared, typed, and every error is also a builtin."""

from __future__ import annotations

import importlib.resources

import polars as pl
import pytest

import hf_bucket_sink
from hf_bucket_sink import errors
from hf_bucket_sink.core.result import FileResult, SinkResult


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in dir(hf_bucket_sink) if not n.startswith("_")}
    assert set(hf_bucket_sink.__all__) == public
    for name in hf_bucket_sink.__all__:
        assert getattr(hf_bucket_sink, name).__doc__, f"{name} has no docstring"


def test_emulator_imports_nothing_from_the_client_side() -> None:
    import subprocess
    import sys

    code = "import sys, hf_bucket_sink.localhub; print(sorted(m for m in ('polars', 'huggingface_hub', 'hf_xet', 'hf_bucket_sink.errors', 'hf_bucket_sink.polars.sinks') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "[]"


def test_package_is_typed() -> None:
    assert importlib.resources.files("hf_bucket_sink").joinpath("py.typed").is_file()


#: the builtin each error is documented to be (errors.py, README): callers' ``except`` clauses rely on it
DOCUMENTED_BUILTIN: dict[str, type[BaseException]] = {
    "BucketSinkError": Exception,
    "InvalidBucketPathError": ValueError,
    "InvalidOptionError": ValueError,
    "UnsupportedTargetError": ValueError,
    "AuthenticationError": PermissionError,
    "BucketAccessDeniedError": PermissionError,
    "BucketNotFoundError": FileNotFoundError,
    "BucketFileNotFoundError": FileNotFoundError,
    "BucketFileExistsError": FileExistsError,
    "HubResponseError": OSError,
    "UploadError": OSError,
    "CommitError": OSError,
    "QueryError": RuntimeError,
    "FileVersionGoneError": FileNotFoundError,
    "InvalidFileError": ValueError,
    "IncompleteFileError": OSError,
}


def test_every_error_has_a_documented_builtin() -> None:
    assert set(DOCUMENTED_BUILTIN) == set(errors.__all__)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_bucket_sink_error_and_its_documented_builtin(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.BucketSinkError)
    assert issubclass(cls, DOCUMENTED_BUILTIN[name]), f"{name} must be caught by `except {DOCUMENTED_BUILTIN[name].__name__}`"
    if cls is not errors.BucketSinkError:
        builtin = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (object, BaseException, Exception)]
        assert builtin, f"{name} does not derive from a builtin exception such as ValueError or OSError"


def test_sink_result_is_readable() -> None:
    result = SinkResult(
        uri="hf://buckets/me/b/x.parquet",
        files=(FileResult("hf://buckets/me/b/x.parquet", size=2_000_000, xet_hash="ab" * 32, new_bytes=500_000),),
        seconds=2.0,
        uploaded_bytes=400_000,
    )
    text = str(result)
    assert "hf://buckets/me/b/x.parquet" in text and "2.0 MB" in text and "75.0%" in text
    assert result.xet_hash == "ab" * 32
    assert result.deduplicated_bytes == 1_500_000 and result.dedup_ratio == 0.75
    assert result.rows is None


def test_uninstalled_polars_is_untouched() -> None:
    hf_bucket_sink.uninstall()
    original = pl.LazyFrame.sink_parquet
    hf_bucket_sink.install()
    assert pl.LazyFrame.sink_parquet is not original
    hf_bucket_sink.uninstall()
    assert pl.LazyFrame.sink_parquet is original


def test_installed_local_paths_reach_polars(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = pl.DataFrame({"a": [1, 2]})
    hf_bucket_sink.install()
    try:
        df.lazy().sink_parquet(tmp_path / "a.parquet")
        df.write_parquet(str(tmp_path / "b.parquet"))
        df.write_csv(tmp_path / "c.csv")
    finally:
        hf_bucket_sink.uninstall()
    assert pl.read_parquet(tmp_path / "a.parquet").equals(df)
    assert pl.read_parquet(tmp_path / "b.parquet").equals(df)
    assert pl.read_csv(tmp_path / "c.csv").equals(df)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda df: df.write_json("hf://buckets/me/b/x.json"), "DataFrame.write_json"),
        (lambda df: df.write_avro("hf://buckets/me/b/x.avro"), "DataFrame.write_avro"),
        (lambda df: df.write_ipc_stream("hf://buckets/me/b/x.arrows"), "DataFrame.write_ipc_stream"),
        (lambda df: df.lazy().sink_delta("hf://buckets/me/b/delta/"), "LazyFrame.sink_delta"),
        (lambda df: df.write_delta(target="hf://buckets/me/b/delta/"), "DataFrame.write_delta"),
    ],
)
def test_installed_unsupported_bucket_targets_fail_clearly(call, fragment: str) -> None:  # type: ignore[no-untyped-def]
    hf_bucket_sink.install()
    try:
        with pytest.raises(hf_bucket_sink.UnsupportedTargetError, match=fragment):
            call(pl.DataFrame({"a": [1]}))
    finally:
        hf_bucket_sink.uninstall()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("BucketNotFoundError", "BucketNotFoundError"),
        ("BucketFileNotFoundError", "RemoteEntryNotFoundError"),
        ("HubResponseError", "HfHubHTTPError"),
    ],
)
def test_errors_that_mean_the_same_subclass_huggingface_hub_errors(ours: str, theirs: str) -> None:
    import pickle

    from huggingface_hub import errors as hf_errors

    error = getattr(errors, ours)("what happened; what to do")
    with pytest.raises(getattr(hf_errors, theirs)):
        raise error
    again = pickle.loads(pickle.dumps(error))  # Ray and Spark ship errors between processes
    assert type(again) is type(error) and str(again) == str(error)
