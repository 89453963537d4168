"""Unit tests of the emulator's pure pieces: name/path rules, Range parsing, listings, tokens, throttle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hf_bucket_sink.localhub.auth import Auth
from hf_bucket_sink.localhub.catalog import Catalog, FileOp, TokenRecord
from hf_bucket_sink.localhub.http import BandwidthLimiter, parse_ranges
from hf_bucket_sink.localhub.validation import name_problem, path_problem
from hf_bucket_sink.localhub.wire import WireError


@pytest.mark.parametrize("name", ["a", "my-data", "A_b.c", "x" * 96, "v1.2-rc_3"])
def test_valid_bucket_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["", "x" * 97, "a--b", "a..b", "-a", "a-", ".a", "a.", "a b", "a/b", "é", "r.git"])
def test_invalid_bucket_names(name: str) -> None:
    assert name_problem(name) is not None


@pytest.mark.parametrize("path", ["a", "a/b/c.txt", "ü/文件 name.txt", "x" * 1024, "..a/b..", ".hidden", "a/.b"])
def test_valid_paths(path: str) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize(
    "path", ["", "/a", "a/", "a//b", "..", "a/../b", ".", "./a", "a\\b", "a\x00", "a\x1fb", "a\x7f", "x" * 1025]
)
def test_invalid_paths(path: str) -> None:
    assert path_problem(path) is not None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, [(0, 5)]),
        ("bytes=5-", 10, [(5, 10)]),
        ("bytes=8-100", 10, [(8, 10)]),
        ("bytes=-3", 10, [(7, 10)]),
        ("bytes=-30", 10, [(0, 10)]),
        ("bytes=0-0,5-6", 10, [(0, 1), (5, 7)]),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("items=0-1", 10, None),
        ("bytes=abc", 10, None),
    ],
)
def test_parse_ranges(header: str | None, size: int, expected: list[tuple[int, int]] | None) -> None:
    assert parse_ranges(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=0-", 0), ("bytes=-0", 5)])
def test_parse_ranges_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(WireError) as err:
        parse_ranges(header, size)
    assert err.value.status == 416 and err.value.headers["Content-Range"] == f"bytes */{size}"


def test_cas_tokens_are_signed_scoped_and_expire() -> None:
    auth = Auth([TokenRecord("hf_w", "alice", "write", "w")], secret=b"s" * 32, cas_token_ttl=60)
    token, exp = auth.issue_cas_token("alice", bucket_id=7, access="read")
    who = auth.cas_principal(f"Bearer {token}", write=False)
    assert (who.user, who.bucket_id, who.access, who.exp) == ("alice", 7, "read", exp)
    with pytest.raises(WireError) as err:
        auth.cas_principal(f"Bearer {token}", write=True)
    assert err.value.status == 403
    other = Auth([], secret=b"t" * 32, cas_token_ttl=60)  # another data dir's secret
    for bad in (f"Bearer {token}x", f"Basic {token}", None, "Bearer "):
        with pytest.raises(WireError) as err:
            auth.cas_principal(bad, write=False)
        assert err.value.status == 401
    with pytest.raises(WireError):
        other.cas_principal(f"Bearer {token}", write=False)
    assert auth.hub_principal(None) is None
    with pytest.raises(WireError) as err:
        auth.hub_principal("Bearer nope")
    assert err.value.status == 401


def test_bandwidth_limiter_rate() -> None:
    limiter = BandwidthLimiter(2_000_000)
    started = time.monotonic()
    for _ in range(10):
        limiter.consume(100_000)  # 1 MB at 2 MB/s
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed <= 1.5
    limiter.set_rate(None)
    started = time.monotonic()
    limiter.consume(10**9)
    assert time.monotonic() - started < 0.05
    with pytest.raises(ValueError):
        limiter.set_rate(0)


# --- listings: paginated pages must equal a naive model ----------------------------------------

_SEGMENTS = st.sampled_from(["a", "b", "a.b", "a_b", "ab", "z", "é", "0"])
_PATHS = st.lists(st.lists(_SEGMENTS, min_size=1, max_size=4).map("/".join), min_size=0, max_size=40, unique=True)


def _model(paths: list[str], prefix: str, recursive: bool) -> list[tuple[str, str]]:
    if recursive:
        return sorted(("file", p) for p in paths if p.startswith(prefix))
    base = prefix + "/" if prefix else ""
    out: set[tuple[str, str]] = {("file", p) for p in paths if p == prefix}
    for p in paths:
        if p.startswith(base) and p != prefix:
            rest = p[len(base) :]
            out.add(("dir", base + rest.split("/")[0]) if "/" in rest else ("file", p))
    return sorted(out)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    cat = Catalog(Path(tmp_path_factory.mktemp("cat")) / "c.sqlite3")
    yield cat
    cat.close()


@settings(max_examples=100, deadline=None)
@example(paths=["a", "a/a", "a.b"], prefix="a", page=1, recursive=False)  # resume after the prefix file
@given(paths=_PATHS, prefix=st.sampled_from(["", "a", "a/b", "ab", "a."]), page=st.integers(1, 5), recursive=st.booleans())
def test_listing_pages_match_model(catalog: Catalog, paths: list[str], prefix: str, page: int, recursive: bool) -> None:
    name = f"b{time.monotonic_ns()}"
    bucket = catalog.create_bucket("u", name, private=False)
    # a file and a folder of the same name may coexist in a bucket; the model handles both
    catalog.apply_batch(bucket.id, [FileOp("add", p, xet_hash="0" * 64, size=1) for p in paths])
    got: list[tuple[str, str]] = []
    after = None
    for _ in range(200):
        entries, after = catalog.list_tree(bucket.id, prefix, recursive=recursive, after=after, limit=page)
        assert len(entries) <= page
        got.extend(("file" if e.file else "dir", e.path) for e in entries)
        if after is None:
            break
    # Entries come in storage-key order (a folder sorts where its first file does); compare as
    # multisets: nothing lost or repeated across page boundaries.
    assert sorted(got) == sorted(_model(paths, prefix, recursive))
    catalog.delete_bucket(bucket.id)
