"""hf_xet 1.8 uploads xorbs through presigned grants by default and directly (``POST /v1/xorbs``)
with ``HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD=true``; the local Hub must accept both.

The whole of tests/localhub is also run once with that variable set (CI's second leg); the first
test checks which mode that run really used, so the leg cannot silently test the default twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from huggingface_hub import HfApi

LEGACY = os.environ.get("HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD", "").lower() in ("1", "true", "yes")

_SCRIPT = r"""
import json, os
from huggingface_hub import HfApi
from hf_bucket_sink.localhub import LocalHub
with LocalHub() as hub:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_bucket("b")
    data = os.urandom(300_000)
    api.batch_bucket_files("local/b", add=[(data, "x.bin")])
    got = api.get_bucket_file_metadata("local/b", "x.bin").size
    print(json.dumps({"grants": hub.stats()["grants_issued"], "stored": hub.stats()["xorbs_stored"], "size": got}))
"""


def test_this_run_uploads_in_the_mode_the_environment_asks_for(local_hub: Any) -> None:
    api = HfApi(endpoint=local_hub.url, token=local_hub.token)
    api.create_bucket("modes")
    api.batch_bucket_files("local/modes", add=[(os.urandom(200_000), "m.bin")])
    stats = local_hub.stats()
    assert stats["xorbs_stored"] >= 1
    if LEGACY:
        assert stats["grants_issued"] == 0, "legacy direct upload was asked for, but grants were used"
    else:
        assert stats["grants_issued"] >= 1, "the default (grant) upload was expected"


def test_legacy_direct_upload_is_accepted() -> None:
    env = {**os.environ, "HF_XET_CLIENT_LEGACY_DIRECT_XORB_UPLOAD": "true", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"grants": 0, "stored": 1, "size": 300_000}



def test_requests_started_counts_a_request_while_its_body_is_still_arriving(local_hub: Any) -> None:
    """``requests`` counts answered requests; a test waiting for an upload to be in flight (one large
    direct xorb POST in legacy mode) needs ``requests_started``."""
    import socket
    import time

    body = b'{"private": false}'
    with socket.create_connection((local_hub.host, local_hub.port), timeout=10) as sock:
        sock.sendall(f"POST /api/buckets/local/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {local_hub.token}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:5])
        deadline = time.monotonic() + 5
        while local_hub.stats()["requests_started"].get("hub_api", 0) < 1:
            assert time.monotonic() < deadline, "the request was not counted on arrival"
            time.sleep(0.02)
        assert local_hub.stats()["requests"].get("hub_api", 0) == 0  # not answered yet
        sock.sendall(body[5:])
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert local_hub.stats()["requests"]["hub_api"] == 1
