"""Safe defaults of the local Hub: tokens for non-loopback binds, body limits per route, the
connection cap and header deadline (slowloris), and URLs built from configuration, never from the
request's ``Host`` header.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from typing import Any

import pytest
from huggingface_hub import HfApi

from hf_bucket_sink.localhub import admin_routes, cas_routes, cdn_routes, hub_routes
from hf_bucket_sink.localhub.cli import configure_parser, is_loopback_host, run_serve


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("10.0.0.5", False), ("hub.example", False)])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_serve_refuses_a_non_loopback_bind_without_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_serve(_args("--host", "0.0.0.0")) == 2  # refused before anything listens
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without --token" in err and "--host 127.0.0.1" in err
    assert _args("--host", "0.0.0.0", "--token", "s3cret").token == "s3cret"  # explicit token: accepted
    assert _args().token is None  # loopback default: a random token is generated at start


def _route(routes: list[Any], method: str, path: str) -> Any:
    return next(r for r in routes if method in r.methods and r.pattern.match(path))


def test_body_limits_per_route() -> None:
    routes = [*admin_routes.ROUTES, *cas_routes.ROUTES, *hub_routes.ROUTES, *cdn_routes.ROUTES]
    limit = {name: _route(routes, m, p).max_body for name, (m, p) in {
        "telemetry": ("POST", "/v1/telemetry"),
        "create": ("POST", "/api/buckets/a/b"),
        "faults": ("PUT", "/_localhub/faults"),
        "batch": ("POST", "/api/buckets/a/b/batch"),
        "xorb": ("POST", "/cas/s/v1/xorbs/default/" + "0" * 64),
        "grant": ("PUT", "/cas/s/grant-uploads/abc"),
        "shard": ("POST", "/cas/s/v2/shards"),
    }.items()}
    assert limit["telemetry"] <= 256 << 10 and limit["create"] <= 1 << 20 and limit["faults"] <= 1 << 20
    assert limit["batch"] <= 16 << 20
    assert limit["xorb"] == limit["grant"] >= 64 << 20  # a full xorb always fits
    assert 64 << 20 <= limit["shard"] <= 128 << 20


@pytest.mark.parametrize(("method", "path", "length"), [("POST", "/v1/telemetry", (256 << 10) + 1),
                                                        ("POST", "/api/buckets/local/x", (1 << 20) + 1)])
def test_small_routes_refuse_large_bodies_at_once(local_hub: Any, method: str, path: str, length: int) -> None:
    with socket.create_connection((local_hub.host, local_hub.port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {local_hub.token}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


def test_slowloris_clients_do_not_starve_a_normal_request(local_hub_factory: Any) -> None:
    hub = local_hub_factory(max_connections=8, header_timeout=1.5, client_timeout=30)
    slow = [socket.create_connection((hub.host, hub.port), timeout=10) for _ in range(24)]
    stop = threading.Event()
    closed: set[int] = set()

    def trickle() -> None:  # one header byte per client every 0.2 s: never silent, never done
        while not stop.is_set():
            for i, s in enumerate(slow):
                if i not in closed:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        closed.add(i)
            stop.wait(0.2)

    for s in slow:
        s.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\nX-Slow: ")
    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.7)  # every slow client is now "waiting for its headers" for longer than a normal one would
        started = time.monotonic()
        conn = http.client.HTTPConnection(hub.host, hub.port, timeout=5)
        conn.request("GET", "/api/whoami-v2", headers={"Authorization": f"Bearer {hub.token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["name"] == "local"
        assert time.monotonic() - started < 1.0, "the normal request waited for the slow ones"
        conn.close()
        conns = hub.stats()["connections"]["hub"]
        assert conns["open"] <= 9 and conns["evicted"] + conns["refused"] >= 16  # the cap held
        time.sleep(2.0)  # past the header deadline: the trickling survivors are cut despite never going silent
        conns = hub.stats()["connections"]["hub"]
        assert conns["header_timeouts"] >= 1 and conns["open"] == 0, conns
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()


def test_at_the_cap_with_only_busy_connections_a_newcomer_gets_503(local_hub_factory: Any) -> None:
    hub = local_hub_factory(max_connections=3)
    hub.set_faults(dark=True)  # dark: requests are held mid-handling, so their connections are busy
    held = [socket.create_connection((hub.host, hub.port), timeout=10) for _ in range(3)]
    try:
        for s in held:
            s.sendall(f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {hub.token}\r\n\r\n".encode())
        time.sleep(0.7)
        conn = http.client.HTTPConnection(hub.host, hub.port, timeout=5)
        conn.request("GET", "/_localhub/health")
        resp = conn.getresponse()
        assert resp.status == 503 and resp.getheader("X-Error-Code") == "TooManyConnections"
        assert resp.getheader("Retry-After") == "1"
        assert hub.stats()["connections"]["hub"]["refused"] == 1
    finally:
        hub.set_faults(dark=False)
        for s in held:
            s.close()


def test_urls_never_come_from_the_host_header(local_hub_factory: Any) -> None:
    hub = local_hub_factory(page_size=1)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    api.batch_bucket_files("local/b", add=[(b"one", "1.txt"), (b"two", "2.txt")])
    evil = {"Host": "evil.example:666", "Authorization": f"Bearer {hub.token}"}

    def call(method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(hub.host, hub.port, timeout=10)
        conn.request(method, path, body=body, headers=evil)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp

    created = http.client.HTTPConnection(hub.host, hub.port, timeout=10)
    created.request("POST", "/api/buckets/local/c", body=b"{}", headers=evil)
    assert json.loads(created.getresponse().read())["url"] == f"{hub.url}/buckets/local/c"
    created.close()
    token = http.client.HTTPConnection(hub.host, hub.port, timeout=10)
    token.request("GET", "/api/buckets/local/b/xet-read-token", headers=evil)
    assert json.loads(token.getresponse().read())["casUrl"].startswith(f"{hub.url}/cas/")
    token.close()
    handed_out = [call("GET", "/api/buckets/local/b/tree").getheader("Link"),
                  call("GET", "/api/buckets/local").getheader("Link"),
                  call("HEAD", "/buckets/local/b/resolve/1.txt").getheader("Link"),
                  call("HEAD", "/buckets/local/b/resolve/1.txt").getheader("Location")]
    assert all(handed_out) and not any("evil.example" in h for h in handed_out), handed_out
    assert handed_out[0].startswith(f"<{hub.url}/") and handed_out[3].startswith(hub.cdn_url)
