"""The fault-injection layer of the local Hub itself: each fault does what it says, is settable at
start (``LocalHub(...)``, CLI flags) and at run time (``PUT /_localhub/faults``), and the admin
routes are loopback-only or behind an admin token.
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

from hf_bucket_sink.localhub import LocalHub
from hf_bucket_sink.localhub import admin_routes
from hf_bucket_sink.localhub.cli import configure_parser
from hf_bucket_sink.localhub.faults import FaultRule, parse_rules


def _get(hub: LocalHub, path: str, *, token: str | None = None, timeout: float = 10, method: str = "GET",
         body: Any = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(hub.host, hub.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token or hub.token}"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    return conn.getresponse()


def test_error_rate_status_and_retry_after(local_hub_factory: Any) -> None:
    hub = local_hub_factory(faults={"hub_api": {"error_rate": 1.0, "status": 429, "retry_after": 2}})
    resp = _get(hub, "/api/whoami-v2")
    assert resp.status == 429 and resp.getheader("Retry-After") == "2"
    assert resp.getheader("X-Error-Code") == "InjectedFault" and b"Injected fault" in resp.read()
    assert _get(hub, "/_localhub/health").status == 200  # admin is never faulted
    assert hub.stats()["faults"]["injected"]["errors:hub_api"] == 1


def test_error_rate_is_a_rate(local_hub_factory: Any) -> None:
    hub = local_hub_factory(faults={"*": {"error_rate": 0.3, "status": 500}}, fault_seed=3)
    statuses = [_get(hub, "/api/whoami-v2").status for _ in range(200)]
    assert 30 <= statuses.count(500) <= 90 and statuses.count(200) + statuses.count(500) == 200


def test_latency(local_hub_factory: Any) -> None:
    hub = local_hub_factory(faults={"hub": {"latency": 0.3}})
    started = time.monotonic()
    assert _get(hub, "/api/whoami-v2").status == 200
    assert time.monotonic() - started >= 0.3


def test_drop_cuts_the_response_mid_body(local_hub_factory: Any) -> None:
    hub = local_hub_factory(faults={"hub_api": {"drop_rate": 1.0}})
    resp = _get(hub, "/api/whoami-v2")
    with pytest.raises(http.client.IncompleteRead):
        resp.read()


def test_drop_cuts_the_request_mid_body(local_hub_factory: Any) -> None:
    hub = local_hub_factory(faults={"hub_api": {"drop_rate": 1.0}})
    conn = http.client.HTTPConnection(hub.host, hub.port, timeout=10)
    conn.request("POST", "/api/buckets/local/x", body=b"{" + b" " * 100_000 + b"}",
                 headers={"Authorization": f"Bearer {hub.token}"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        conn.getresponse().read()


def test_go_dark_and_come_back_over_the_admin_route(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    assert _get(hub, "/_localhub/faults", method="PUT", body={"dark": True}).status == 200
    with pytest.raises(TimeoutError):
        _get(hub, "/api/whoami-v2", timeout=0.5).read()
    held: list[BaseException | int] = []

    def waiting_client() -> None:
        try:
            held.append(_get(hub, "/api/whoami-v2", timeout=10).status)
        except (ConnectionError, http.client.HTTPException) as exc:
            held.append(exc)

    t = threading.Thread(target=waiting_client)
    t.start()
    time.sleep(0.3)
    assert held == []  # still hanging
    assert _get(hub, "/_localhub/faults", method="PUT", body={"dark": False}).status == 200
    t.join(5)
    assert held and not isinstance(held[0], int), "a request held while dark is reset, not answered"
    assert _get(hub, "/api/whoami-v2").status == 200
    assert hub.stats()["faults"]["injected"]["held_dark"] >= 2


def test_runtime_rules_replace_and_clear(local_hub_factory: Any) -> None:
    hub = local_hub_factory()
    resp = _get(hub, "/_localhub/faults", method="PUT", body={"rules": {"cas": {"error_rate": 0.1, "status": 503}}, "seed": 1})
    snap = json.loads(resp.read())
    assert snap["rules"]["cas"]["error_rate"] == 0.1 and snap["seed"] == 1
    assert json.loads(_get(hub, "/_localhub/faults", method="DELETE").read())["rules"] == {}
    for bad in ({"rules": {"nope": {}}}, {"rules": {"cas": {"status": 404}}}, {"rules": {"cas": {"error_rate": 2}}},
                {"dark": "yes"}, {}, [], {"rules": {"cas": {"latency": -1}}}, {"rules": {"cas": {"x": 1}}}):
        assert _get(hub, "/_localhub/faults", method="PUT", body=bad).status == 400, bad


def test_faults_survive_a_restart_and_start_dark(tmp_path: Any) -> None:
    hub = LocalHub(tmp_path / "d", dark=True)
    with hub:
        with pytest.raises(TimeoutError):
            _get(hub, "/api/whoami-v2", timeout=0.3).read()
        hub.set_faults({"hub_api": {"error_rate": 1.0}}, dark=False)
    with hub:  # restarted: rules kept
        assert _get(hub, "/api/whoami-v2").status == 503


def test_rule_validation() -> None:
    assert parse_rules({"cas": {"error_rate": 0.1}})["cas"] == FaultRule(error_rate=0.1)
    with pytest.raises(ValueError, match="error_rate \\+ drop_rate"):
        FaultRule(error_rate=0.7, drop_rate=0.7)


def test_cli_flags() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--fault", "cas:error_rate=0.1,status=429,retry_after=1", "--fault", "hub_api:latency=0.2",
                              "--fault-seed", "5", "--dark", "--client-timeout", "7", "--admin-token", "s3"])
    assert dict(args.fault)["cas"] == {"error_rate": 0.1, "status": 429, "retry_after": 1.0}
    assert args.fault_seed == 5 and args.dark and args.client_timeout == 7.0 and args.admin_token == "s3"
    for bad in ("cas", "cas:error_rate", "nope:error_rate=0.1", "cas:status=404", "cas:error_rate=x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--fault", bad])


# -- who may use the admin routes -----------------------------------------------------------------------


def test_admin_token_guards_admin_routes(local_hub_factory: Any) -> None:
    hub = local_hub_factory(admin_token="adm1n")
    assert _get(hub, "/_localhub/stats", token="wrong").status == 401
    assert _get(hub, "/_localhub/faults", method="PUT", body={"dark": True}).status == 401  # hub token is not enough
    assert _get(hub, "/_localhub/stats", token="adm1n").status == 200
    assert _get(hub, "/_localhub/health", token="wrong").status == 200  # readiness probe stays open


@pytest.mark.parametrize(("address", "allowed"), [(("127.0.0.1", 1), True), (("::1", 1, 0, 0), True),
                                                  (("::ffff:127.0.0.1", 1, 0, 0), True), (("10.1.2.3", 1), False),
                                                  (("192.168.0.2", 1), False), (("fe80::1%eth0", 1, 0, 2), False)])
def test_admin_routes_answer_loopback_peers_only(address: tuple[Any, ...], allowed: bool) -> None:
    assert admin_routes._is_loopback(address) is allowed


def test_admin_routes_refuse_a_non_loopback_peer(local_hub_factory: Any) -> None:
    # bind every interface and call through a non-loopback address of this machine, if it has one
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
        own = probe.getsockname()[0]
        probe.close()
    except OSError:
        pytest.skip("no non-loopback interface")
    if own.startswith("127."):
        pytest.skip("no non-loopback interface")
    hub = local_hub_factory(host="0.0.0.0")
    conn = http.client.HTTPConnection(own, hub.port, timeout=10)
    conn.request("PUT", "/_localhub/faults", body=json.dumps({"dark": True}))
    assert conn.getresponse().status == 403
    assert not hub.faults.dark
