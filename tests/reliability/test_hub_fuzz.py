"""Local Hub hardening: the OpenAPI description stays in sync, and fuzzing every operation finds
no 500, no file access outside the data dir, no cross-tenant read or write; bodies and slow
clients are limited. Hypothesis drives the fuzzing from :mod:`hf_bucket_sink.localhub.openapi`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from huggingface_hub import HfApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.localhub import admin_routes, cas_routes, cdn_routes, hub_routes, openapi

SECRET = b"CROSS-TENANT-SECRET-0123456789"
OUTSIDE = b"OUTSIDE-THE-DATA-DIR-SECRET"
OTHER_TOKEN = "hf_fuzz_other_token"
READ_TOKEN = "hf_fuzz_read_token"


def _routes() -> list[Any]:
    return [*admin_routes.ROUTES, *cas_routes.ROUTES, *hub_routes.ROUTES, *cdn_routes.ROUTES]


# -- the OpenAPI description ---------------------------------------------------------------------------


def test_openapi_file_is_regenerated() -> None:
    committed = json.loads(Path(openapi.__file__).with_name("openapi.json").read_text())
    assert committed == openapi.build_spec(), (
        "openapi.json is stale: python -m hf_bucket_sink.localhub.openapi > src/hf_bucket_sink/localhub/openapi.json"
    )


def test_openapi_covers_every_route_and_nothing_else() -> None:
    routes = _routes()
    for op in openapi.OPERATIONS:
        path = openapi.example_path(op.path)
        hits = [r for r in routes if r.pattern.match(path) and op.method in r.methods and r.origin == op.origin]
        assert hits, f"{op.method} {op.path} is described but no route serves it"
        assert hits[0].family == op.family, f"{op.method} {op.path}: family {hits[0].family} != {op.family}"
    for r in routes:
        for method in r.methods:
            described = [
                op for op in openapi.OPERATIONS
                if op.method == method and op.origin == r.origin and r.pattern.match(openapi.example_path(op.path))
            ]
            assert described, f"route {method} {r.pattern.pattern} is missing from openapi.py"


# -- fuzzing -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalHub, Path]]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "outside.txt").write_bytes(OUTSIDE)
    hub = LocalHub(
        root / "data",
        extra_tokens=[("local", READ_TOKEN, "read"), ("other", OTHER_TOKEN, "write")],
        client_timeout=5,
    ).start()
    try:
        HfApi(endpoint=hub.url, token=hub.token).create_bucket("data")
        HfApi(endpoint=hub.url, token=hub.token).batch_bucket_files("local/data", add=[(b"public bytes", "a/b.txt")])
        other = HfApi(endpoint=hub.url, token=OTHER_TOKEN)
        other.create_bucket("private", private=True)
        other.batch_bucket_files("other/private", add=[(SECRET, "secret.bin")])
        yield hub, root
    finally:
        hub.stop()


_SEGMENT = st.one_of(
    st.sampled_from(["local", "other", "data", "private", "me", "..", ".", "%2e%2e", "..%2f..", "%00", "a/../..",
                     "outside.txt", "../outside.txt", "%2F..%2F..%2Foutside.txt", "secret.bin", "0" * 64, "default"]),
    st.text(min_size=0, max_size=40),
)
_TOKENS = st.sampled_from([None, "hf_local_write_token", READ_TOKEN, "garbage token", "Bearer x", ""])
_BODY = st.one_of(
    st.none(),
    st.binary(max_size=2048),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=10,
    )),
    st.builds(lambda p: json.dumps({"type": "addFile", "path": p, "xetHash": "0" * 64}).encode() + b"\n", st.text(max_size=30)),
    st.builds(lambda p: json.dumps({"paths": [p]}).encode(), _SEGMENT),
)
_QUERY = st.sampled_from(["", "?recursive=false", "?recursive=true&limit=1", "?cursor=%ZZ", "?limit=-5", "?e=1&s=abc",
                          "?search=%00", "?limit=99999999999999999999"])


def _send(hub: LocalHub, method: str, path: str, body: bytes | None, token: str | None, extra: dict[str, str],
          *, port: int | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(hub.host, port or hub.port, timeout=30)
    try:
        headers = dict(extra)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@settings(max_examples=int(os.environ.get("HF_BUCKET_SINK_FUZZ_EXAMPLES", "400")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    op=st.sampled_from(openapi.OPERATIONS),
    values=st.fixed_dictionaries({k: _SEGMENT for k in openapi.SAMPLES}),
    token=_TOKENS,
    body=_BODY,
    query=_QUERY,
    rng=st.sampled_from([{}, {"Range": "bytes=0-3"}, {"Range": "bytes=-1"}, {"Range": "bytes=99999999-"}, {"Range": "junk"}]),
)
def test_fuzz_every_operation(seeded_hub: tuple[LocalHub, Path], op: Any, values: dict[str, str], token: str | None,
                              body: bytes | None, query: str, rng: dict[str, str]) -> None:
    hub, _root = seeded_hub
    values = {k: quote(v, safe="/%:@") for k, v in values.items()}
    if op.path.startswith("/cas/") and values["store"] == "store":
        values["store"] = hub.store_id  # reach the handlers, not only the "unknown store" check
    path = openapi.example_path(op.path, values) + query
    try:
        status, data = _send(hub, op.method, path, body, token, rng, port=hub.cdn_port if op.origin == "cdn" else None)
    finally:
        hub.faults.clear()  # a fuzzed PUT /_localhub/faults must not turn the hub dark for the next example
        hub.set_bandwidth_limit(None)
    assert status < 500, f"{op.method} {path} -> {status}: {data[:300]!r}"
    assert SECRET not in data, f"{op.method} {path} leaked another tenant's private file"
    assert OUTSIDE not in data, f"{op.method} {path} served a file outside the data dir"


def test_fuzzing_left_other_tenant_and_filesystem_intact(seeded_hub: tuple[LocalHub, Path]) -> None:
    # runs after the fuzz test (file order): nothing fuzzed as user "local" changed user "other"'s bucket
    hub, root = seeded_hub
    other = HfApi(endpoint=hub.url, token=OTHER_TOKEN)
    assert [e.path for e in other.list_bucket_tree("other/private", recursive=True)] == ["secret.bin"]
    assert (root / "outside.txt").read_bytes() == OUTSIDE
    assert sorted(p.name for p in root.iterdir()) == ["data", "outside.txt"]  # nothing written next to the data dir


@pytest.mark.parametrize("raw", ["/buckets/other/private/resolve/secret.bin", "/buckets/local/data/resolve/..%2F..%2Foutside.txt",
                                 "/buckets/local/data/resolve/%2e%2e/%2e%2e/outside.txt", "/api/buckets/other/private/tree",
                                 "/buckets/local/data/resolve/a/../../../../outside.txt"])
def test_traversal_and_cross_tenant_reads_are_refused(seeded_hub: tuple[LocalHub, Path], raw: str) -> None:
    hub, _ = seeded_hub
    status, data = _send(hub, "GET", raw, None, "hf_local_write_token", {})
    assert status in (400, 404), (status, data[:200])
    assert SECRET not in data and OUTSIDE not in data


def test_cross_tenant_write_is_refused(seeded_hub: tuple[LocalHub, Path]) -> None:
    hub, _ = seeded_hub
    line = json.dumps({"type": "deleteFile", "path": "secret.bin"}).encode() + b"\n"
    status, _ = _send(hub, "POST", "/api/buckets/other/private/batch", line, "hf_local_write_token", {})
    assert status in (403, 404)
    status, _ = _send(hub, "GET", "/api/buckets/other/private/xet-write-token", None, "hf_local_write_token", {})
    assert status in (403, 404)


# -- body size limits and slow clients ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "length"),
    [("POST", "/api/buckets/local/data/batch", (64 << 20) + 1), ("POST", "/api/buckets/local/data/paths-info", (16 << 20) + 1),
     ("PUT", "/_localhub/faults", (16 << 20) + 1)],
)
def test_oversized_bodies_are_refused_without_reading_them(local_hub: LocalHub, method: str, path: str, length: int) -> None:
    HfApi(endpoint=local_hub.url, token=local_hub.token).create_bucket("data")
    with socket.create_connection((local_hub.host, local_hub.port), timeout=10) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {local_hub.token}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)  # answered at once: the server did not wait for 64 MB
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


def test_slow_clients_are_cut_off(local_hub_factory: Any) -> None:
    hub = local_hub_factory(client_timeout=1.0)
    for partial in (b"GET /api/whoami-v2 HT", b"POST /api/buckets/local/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\""):
        with socket.create_connection((hub.host, hub.port), timeout=10) as sock:
            sock.sendall(partial)
            started = time.monotonic()
            chunks = []
            while True:  # read until the server closes
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    break
                if not data:
                    break
                chunks.append(data)
            waited = time.monotonic() - started
        assert waited < 4, f"a stalled client held its connection {waited:.1f} s (limit 1 s)"
