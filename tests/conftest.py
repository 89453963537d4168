"""Shared fixtures: an isolated Hugging Face client environment and local Hubs over loopback HTTP.

- ``_isolated_hf_env`` (autouse): per-test ``HF_HOME`` / ``HF_XET_CACHE``, telemetry and progress
  bars off, no ``HF_TOKEN`` / ``HF_ENDPOINT`` from the developer's shell.
- ``local_hub``: a started :class:`~hf_bucket_sink.localhub.LocalHub` (fresh data dir per test),
  with a read-only token for the default user and a second user (see ``hub_tokens``).
- ``local_hub_factory``: start hubs with custom options (TTL, bandwidth, data dir…).
- ``hf_api``: ``HfApi`` pointed at ``local_hub`` with its write token.
- ``raw_http``: exact HTTP requests (``http.client``, no URL normalisation) against ``local_hub``.

``huggingface_hub`` reads ``HF_ENDPOINT`` at import time, so always pass ``endpoint=`` explicitly.
Its process-wide ``XetSession`` keeps the cache directory of the first test that created it; that
is harmless because every local Hub hands out a unique CAS URL (port + per-data-dir store id), and
hf_xet keys its shard cache on that URL.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

# Read at import time by huggingface_hub: set before any test module imports it.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

READ_TOKEN = "hf_local_read_token"
OTHER_USER = "other"
OTHER_TOKEN = "hf_other_write_token"


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler for a test that presses Ctrl-C: a process started in the
    background (CI, ``nohup``, the mutant runner) inherits SIGINT ignored, and then neither a
    signal nor ``_thread.interrupt_main`` raises ``KeyboardInterrupt``."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _isolated_hf_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_XET_CACHE", str(home / "xet"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local_hub_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """``factory(**LocalHub kwargs)`` -> a started hub (data dir under tmp unless given); all stopped after."""
    from hf_bucket_sink.localhub import LocalHub

    hubs: list[LocalHub] = []

    def factory(**kwargs: Any) -> LocalHub:
        kwargs.setdefault("data_dir", tmp_path_factory.mktemp("hub_data"))
        hub = LocalHub(**kwargs).start()
        hubs.append(hub)
        return hub

    yield factory
    for hub in reversed(hubs):
        hub.stop()


@pytest.fixture
def hub_tokens() -> dict[str, str]:
    """Tokens accepted by ``local_hub``: ``write`` / ``read`` (user ``local``) and ``other`` (user ``other``)."""
    from hf_bucket_sink.localhub import DEFAULT_TOKEN

    return {"write": DEFAULT_TOKEN, "read": READ_TOKEN, "other": OTHER_TOKEN}


@pytest.fixture
def local_hub(local_hub_factory: Callable[..., Any]) -> Any:
    """A fresh, started local Hub (user ``local``) with a read token and a second user ``other``."""
    return local_hub_factory(extra_tokens=[("local", READ_TOKEN, "read"), (OTHER_USER, OTHER_TOKEN, "write")])


@pytest.fixture
def hf_api(local_hub: Any) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=local_hub.url, token=local_hub.token)


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    #: the 3xx answer this one was reached from (``follow_redirects=True``)
    redirected_from: RawResponse | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class RawHTTP:
    """Byte-exact requests to one server; one keep-alive connection, reopened when the server closes it."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: Mapping[str, str] | None = None,
        *, token: str | None = None, follow_redirects: bool = False,
    ) -> RawResponse:
        """One request; with ``follow_redirects`` a 3xx is followed once, like httpx across origins:
        on a new connection and without ``Authorization`` when the target is another origin."""
        first = self._request(method, path, body, headers, token=token)
        if not follow_redirects or first.status not in (301, 302, 303, 307, 308):
            return first
        target = urlsplit(first.headers["Location"])
        hdrs = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        same = target.hostname in (None, self.host) and (target.port or self.port) == self.port
        if same:
            final = self._request(method, f"{target.path}?{target.query}", None, headers, token=token)
        else:
            conn = http.client.HTTPConnection(target.hostname or self.host, target.port or 80, timeout=60)
            try:
                conn.request(method, f"{target.path}?{target.query}", headers=hdrs)
                resp = conn.getresponse()
                final = RawResponse(resp.status, resp.headers, resp.read())
            finally:
                conn.close()
        final.redirected_from = first
        return final

    def _request(
        self, method: str, path: str, body: bytes | str | None, headers: Mapping[str, str] | None,
        *, token: str | None,
    ) -> RawResponse:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, str):
            body = body.encode()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self._conn.request(method, path, body=body, headers=hdrs)
        resp = self._conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.close()
        return RawResponse(resp.status, resp.headers, data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@pytest.fixture
def raw_http(local_hub: Any) -> Iterator[RawHTTP]:
    client = RawHTTP(local_hub.url)
    yield client
    client.close()


@pytest.fixture
def make_raw_http() -> Iterator[Callable[[str], RawHTTP]]:
    clients: list[RawHTTP] = []

    def make(base_url: str) -> RawHTTP:
        clients.append(RawHTTP(base_url))
        return clients[-1]

    yield make
    for c in clients:
        c.close()
