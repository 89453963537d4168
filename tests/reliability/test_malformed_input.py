"""Hostile and malformed input: random paths and storage_options always give a typed error (never
a crash or a hang), and malformed Hub replies (truncated JSON, wrong types, HTML error pages)
become clear errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest
from huggingface_hub import HfApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hf_bucket_sink
from hf_bucket_sink import BucketSinkError, CommitError, HubResponseError
from hf_bucket_sink.core.credentials import resolve_credentials
from hf_bucket_sink.core.commit import StoredFile, commit_output
from hf_bucket_sink.core.hub import HubClient
from hf_bucket_sink.core.result import FileResult
from hf_bucket_sink.localhub import LocalHub

# -- property: any path / storage_options -> success or a typed error, quickly --------------------------


@pytest.fixture(scope="module")
def hostile_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("hostile")) as hub:
        HfApi(endpoint=hub.url, token=hub.token).create_bucket("ok")
        yield hub


_TEXT = st.text(max_size=30)
_PATHS = st.one_of(
    _TEXT,
    st.builds(lambda ns, b, p: f"hf://buckets/{ns}/{b}/{p}", st.sampled_from(["local", "other", "", "..", "me"]) | _TEXT,
              st.sampled_from(["ok", "missing", "", "a--b", ".git"]) | _TEXT, _TEXT),
    st.builds(lambda p: f"hf://buckets/local/ok/{p}", _TEXT),
    st.sampled_from(["hf://", "hf://buckets", "hf://buckets/local", "hf://datasets/x/y/z.parquet", "s3://b/k",
                     "hf://buckets/local/ok/", "hf://buckets/local/ok/a/../b.parquet", "hf://buckets/local/ok/\x00.parquet"]),
)
_VALUES = st.one_of(st.none(), st.integers(), st.booleans(), _TEXT, st.lists(_TEXT, max_size=2), st.just("HUB_URL"),
                    st.just("HUB_TOKEN"))


def _no_network(hub: LocalHub, value: Any) -> Any:
    """Real values stand for the local hub; any other URL-looking string is made unreachable-free."""
    if value == "HUB_URL":
        return hub.url
    if value == "HUB_TOKEN":
        return hub.token
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return hub.url  # never let a generated string reach the internet
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=_PATHS, options=st.dictionaries(st.sampled_from(["token", "endpoint"]) | _TEXT, _VALUES, max_size=3)
       | st.none() | st.sampled_from([[], "token", 3]))
def test_any_path_and_options_give_success_or_a_typed_error(hostile_hub: LocalHub, path: str, options: Any) -> None:
    if isinstance(options, dict):
        options = {k: _no_network(hostile_hub, v) for k, v in options.items()}
        options.setdefault("endpoint", hostile_hub.url)  # HF_ENDPOINT is unset: default would be huggingface.co
    started = time.monotonic()
    try:
        hf_bucket_sink.sink_parquet(pl.DataFrame({"a": [1]}), path, storage_options=options)
    except BucketSinkError as exc:
        assert str(exc), "typed errors carry a message"
    assert time.monotonic() - started < 20, "no hang"


# -- malformed replies from a Hub ------------------------------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers every request with the server's current (status, content type, body)."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, ctype, body = self.server.reply  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


_HTML = b"<!DOCTYPE html><html><body><h1>Bad gateway</h1></body></html>"
_REPLIES = [
    (200, "application/json", b'{"casUrl": "http://x", "accessTo'),  # truncated JSON
    (200, "application/json", b'["not", "an", "object"]'),  # wrong type
    (200, "application/json", b'{"casUrl": 1, "accessToken": null, "exp": "soon"}'),  # wrong field types
    (200, "text/html", _HTML),  # HTML where JSON was expected
    (400, "text/html", _HTML),  # HTML error page
    (403, "text/html", _HTML),
    (418, "application/json", b'{"error": ['),
]


@pytest.mark.parametrize("reply", _REPLIES, ids=[f"{s}-{b[:12]!r}" for s, _, b in _REPLIES])
def test_malformed_replies_become_clear_errors(scripted: ThreadingHTTPServer, reply: tuple[int, str, bytes]) -> None:
    scripted.reply = reply  # type: ignore[attr-defined]
    hub = HubClient(resolve_credentials({"token": "hf_x", "endpoint": f"http://127.0.0.1:{scripted.server_address[1]}"}))
    calls = {
        "xet_token": lambda: hub.xet_token("ns/b", write=True),
        "paths_info": lambda: hub.paths_info("ns/b", ["a"]),
        "list_tree": lambda: list(hub.list_tree("ns/b")),
        "commit_output": lambda: commit_output(
            hub, "ns/b", [StoredFile("a", "text/plain", FileResult("hf://buckets/ns/b/a", 1, "0" * 64, 0))]
        ),
    }
    for name, call in calls.items():
        started = time.monotonic()
        try:
            call()
        except BucketSinkError as exc:
            message = str(exc)
            assert "<html" not in message.lower(), f"{name}: an HTML page leaked into the message"
            assert len(message) < 1200, f"{name}: message too long"
            if reply[0] == 200:
                assert isinstance(exc, (HubResponseError, CommitError)), (name, exc)
        else:
            # tolerated only where the reply is harmless: listing calls skip entries that are not objects
            assert name in ("paths_info", "list_tree") and reply[1] == "application/json" and reply[2].startswith(b"["), name
        assert time.monotonic() - started < 10, f"{name} took too long"
