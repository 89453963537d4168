"""The server as a process: restart durability, concurrency, throttling, admin routes, CLI, clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hf_bucket_sink.localhub import LocalHub


def test_restart_keeps_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    payload = os.urandom(2_000_000)
    with LocalHub(data_dir) as hub:
        api = HfApi(endpoint=hub.url, token=hub.token)
        api.create_bucket("keep", private=True)
        api.batch_bucket_files("local/keep", add=[(payload, "p.bin"), (b"", "e")])
        store_id = hub.store_id
        before = {f.path: (f.size, f.xet_hash, f.mtime) for f in api.list_bucket_tree("local/keep")}
    hub = LocalHub(data_dir)
    for _ in range(2):  # a new server on the same dir, then the same object restarted
        hub.start()
        assert hub.store_id == store_id
        api = HfApi(endpoint=hub.url, token=hub.token)
        assert api.bucket_info("local/keep").private
        assert {f.path: (f.size, f.xet_hash, f.mtime) for f in api.list_bucket_tree("local/keep")} == before
        api.download_bucket_files("local/keep", [("p.bin", tmp_path / "p.bin")])
        assert (tmp_path / "p.bin").read_bytes() == payload
        assert hub.stats()["catalog"]["xorbs"] >= 1
        hub.stop()


def test_one_data_dir_one_server(tmp_path: Path) -> None:
    with LocalHub(tmp_path / "d"):
        with pytest.raises(RuntimeError, match="already used"):
            LocalHub(tmp_path / "d").start()


def test_temp_data_dir_is_removed_and_no_thread_survives() -> None:
    before = set(threading.enumerate())
    hub = LocalHub().start()
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("t")
    api.batch_bucket_files("local/t", add=[(b"x" * 10_000, "x")])
    data_dir = Path(hub.data_dir)
    assert data_dir.is_dir()
    hub.stop()
    assert not data_dir.exists()
    leftover = [t for t in threading.enumerate() if t not in before and t.name.startswith(("localhub", "Thread"))]
    assert leftover == []
    hub.stop()  # idempotent


def test_concurrent_uploaders_all_land(hf_api: HfApi, local_hub: Any, tmp_path: Path) -> None:
    hf_api.create_bucket("many")
    blobs = {f"up/{i}.bin": os.urandom(1_500_000 + i) for i in range(8)}

    def upload(item: tuple[str, bytes]) -> None:
        HfApi(endpoint=local_hub.url, token=local_hub.token).batch_bucket_files("local/many", add=[(item[1], item[0])])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, blobs.items()))
    listed = {f.path: f.size for f in hf_api.list_bucket_tree("local/many")}
    assert listed == {p: len(b) for p, b in blobs.items()}
    hf_api.download_bucket_files("local/many", [(p, tmp_path / p) for p in blobs])
    assert all((tmp_path / p).read_bytes() == b for p, b in blobs.items())
    assert local_hub.stats()["files_registered"] == 8


def test_bandwidth_limit_throttles_uploads_and_downloads(local_hub: Any, hf_api: HfApi, raw_http: Any) -> None:
    hf_api.create_bucket("bw")
    data = os.urandom(3_000_000)
    hf_api.batch_bucket_files("local/bw", add=[(data, "d.bin")])
    resp = raw_http.request("PUT", "/_localhub/bandwidth", json.dumps({"bytes_per_s": 10_000_000}))
    assert resp.json() == {"bytes_per_s": 10_000_000}
    started = time.monotonic()
    assert raw_http.request("GET", "/buckets/local/bw/resolve/d.bin", follow_redirects=True).body == data
    assert time.monotonic() - started >= 0.25  # 3 MB at 10 MB/s (minus a 50 ms burst)
    started = time.monotonic()
    hf_api.batch_bucket_files("local/bw", add=[(os.urandom(3_000_000), "e.bin")])
    assert time.monotonic() - started >= 0.25
    local_hub.set_bandwidth_limit(None)
    assert local_hub.stats()["bandwidth_limit"] is None
    assert raw_http.request("PUT", "/_localhub/bandwidth", '{"bytes_per_s": -1}').status == 400


def test_admin_stats_and_unknown_routes(raw_http: Any, local_hub: Any) -> None:
    stats = raw_http.request("GET", "/_localhub/stats").json()
    assert stats["xorbs_stored"] == 0 and "requests" in stats and "catalog" in stats
    assert raw_http.request("GET", "/_localhub/health").json() == {"ok": True}
    assert raw_http.request("GET", "/api/agent-harnesses").status == 404
    assert raw_http.request("GET", "/api/buckets/local/x/events").status == 404
    assert raw_http.request("POST", "/v1/telemetry", b'{"event": "x"}').status == 204
    assert raw_http.request("GET", "/no/such/route").status == 404
    assert raw_http.request("PATCH", "/api/whoami-v2").status == 405
    assert raw_http.request("GET", "/cas/not-this-store/v1/chunks/default/" + "0" * 64).status == 404
    counts = local_hub.stats()["requests"]
    assert counts["admin"] >= 2 and counts["telemetry"] == 1 and counts["unknown"] >= 2


def test_internal_errors_are_json_without_traceback(local_hub: Any, raw_http: Any, monkeypatch: Any, caplog: Any) -> None:
    from hf_bucket_sink.localhub import admin_routes

    def boom(state: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(admin_routes, "stats_payload", boom)
    with caplog.at_level("ERROR", logger="hf_bucket_sink.localhub.app"):
        resp = raw_http.request("GET", "/_localhub/stats")
    assert resp.status == 500
    assert "secret internals" not in resp.body.decode() and "Traceback" not in resp.body.decode()
    assert resp.json()["error"].startswith("Internal error")
    assert "secret internals" in caplog.text  # logged with its traceback instead
    assert raw_http.request("GET", "/_localhub/health").status == 200  # connection still usable


def test_public_url_is_used_in_every_url(local_hub_factory: Any, make_raw_http: Any) -> None:
    hub = local_hub_factory(public_url="https://hub.example.test/prefix")
    raw = make_raw_http(hub.local_url)
    assert hub.url == "https://hub.example.test/prefix"
    resp = raw.request("POST", "/api/buckets/me/b", b"{}", token=hub.token)
    assert resp.json()["url"] == "https://hub.example.test/prefix/buckets/local/b"
    token = raw.request("GET", "/api/buckets/local/b/xet-write-token", token=hub.token).json()
    assert token["casUrl"] == f"https://hub.example.test/prefix/cas/{hub.store_id}"


def test_cli_serve_prints_instructions_and_stops_on_sigterm(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "hf-bucket-sink"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hf_bucket_sink.cli"]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--extra-token", "bob:hf_bob:read",
         "--cas-token-ttl", "600", "--bandwidth-limit", "50000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Stop with"):
                break
        out = "".join(lines)
        url = re.search(r"export HF_ENDPOINT=(\S+) HF_TOKEN=(\S+)", out)
        assert url is not None, out
        token = url.group(2)  # no --token: a random one, printed
        assert token.startswith("hf_local_") and token != "hf_local_write_token" and len(token) > 30
        assert "bob (read): hf_bob" in out and "generated" in out
        api = HfApi(endpoint=url.group(1), token="hf_bob")
        assert api.whoami()["name"] == "bob"
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=url.group(1), token="hf_local_write_token").whoami()  # the fixed test token is not accepted
        HfApi(endpoint=url.group(1), token=token).create_bucket("cli")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with LocalHub(tmp_path / "d") as hub:  # what the CLI wrote is there
        assert HfApi(endpoint=hub.url, token=hub.token).bucket_info("local/cli").id == "local/cli"


def test_cli_rejects_bad_flags() -> None:
    from hf_bucket_sink.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--extra-token", "bob:hf_bob:admin"])
    with pytest.raises(SystemExit):
        main(["serve", "--cas-token-ttl", "0"])
