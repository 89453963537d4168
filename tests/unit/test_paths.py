"""BucketPath: what is accepted, what is refused, and that refusals are typed and explain themselves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hf_bucket_sink import BucketSinkError, InvalidBucketPathError
from hf_bucket_sink.core.paths import BucketPath, is_bucket_uri


def test_parse_file_path() -> None:
    p = BucketPath.parse("hf://buckets/me/my-bucket/data/x.parquet")
    assert (p.namespace, p.bucket, p.path) == ("me", "my-bucket", "data/x.parquet")
    assert p.bucket_id == "me/my-bucket"
    assert p.name == "x.parquet"
    assert str(p) == "hf://buckets/me/my-bucket/data/x.parquet"
    assert not p.is_dir


def test_non_ascii_and_spaces_are_allowed() -> None:
    p = BucketPath.parse("hf://buckets/me/b/données/été 2024.parquet")
    assert p.path == "données/été 2024.parquet"


@pytest.mark.parametrize(
    ("uri", "kind", "path"),
    [
        ("hf://buckets/me/b", "dir", ""),
        ("hf://buckets/me/b/", "dir", ""),
        ("hf://buckets/me/b/out", "dir", "out/"),
        ("hf://buckets/me/b/out/", "any", "out/"),
        ("hf://buckets/me/b/out/x.csv", "any", "out/x.csv"),
    ],
)
def test_parse_directories(uri: str, kind: str, path: str) -> None:
    p = BucketPath.parse(uri, kind=kind)
    assert p.path == path
    assert p.is_dir == (path == "" or path.endswith("/"))


def test_join() -> None:
    d = BucketPath.parse("hf://buckets/me/b/out/", kind="dir")
    assert str(d.join("k=1/part-0.parquet")) == "hf://buckets/me/b/out/k=1/part-0.parquet"
    with pytest.raises(InvalidBucketPathError):
        d.join("../escape.parquet")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("s3://bucket/x.parquet", "not a bucket URI"),
        ("hf://datasets/me/d/x.parquet", "not a bucket URI"),
        ("HF://BUCKETS/me/b/x.parquet", "case-sensitive"),
        ("hf://buckets/", "namespace and a bucket"),
        ("hf://buckets/me", "namespace and a bucket"),
        ("hf://buckets/me/b", "names a folder"),
        ("hf://buckets/me/b/dir/", "names a folder"),
        ("hf://buckets/me/b@main/x.parquet", "no revisions"),
        ("hf://buckets/-me/b/x.parquet", "Invalid namespace"),
        ("hf://buckets/me/b..c/x.parquet", "Invalid bucket name"),
        ("hf://buckets/me/" + "b" * 97 + "/x", "Invalid bucket name"),
        ("hf://buckets/me/b/a//x.parquet", "empty folder name"),
        ("hf://buckets/me/b//x.parquet", "starts with '/'"),
        ("hf://buckets/me/b/../x.parquet", "'..'"),
        ("hf://buckets/me/b/./x.parquet", "'.'"),
        ("hf://buckets/me/b/a\\x.parquet", "backslash"),
        ("hf://buckets/me/b/a\x00x.parquet", "control character"),
        ("hf://buckets/me/b/a\nx.parquet", "control character"),
        ("hf://buckets/me/b/" + "x" * 1025, "longer than 1024 bytes"),
    ],
)
def test_invalid_paths_are_refused_with_a_reason(uri: str, fragment: str) -> None:
    with pytest.raises(InvalidBucketPathError) as info:
        BucketPath.parse(uri)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BucketSinkError)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidBucketPathError, match="must be a string"):
        BucketPath.parse(42)  # type: ignore[arg-type]


def test_is_bucket_uri() -> None:
    from pathlib import PurePosixPath

    assert is_bucket_uri("hf://buckets/me/b/x")
    assert not is_bucket_uri("hf://datasets/me/b/x")
    assert not is_bucket_uri(PurePosixPath("/tmp/x"))
    assert not is_bucket_uri(None)


@given(st.text(max_size=200))
def test_any_string_parses_or_raises_typed_error(suffix: str) -> None:
    for kind in ("file", "dir", "any"):
        try:
            p = BucketPath.parse("hf://buckets/" + suffix, kind=kind)
        except InvalidBucketPathError as exc:
            assert str(exc)
        else:
            # what parses round-trips and has no escaping segment
            assert BucketPath.parse(str(p), kind="any") == p
            assert ".." not in p.path.split("/")
