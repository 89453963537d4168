"""The local Hub as a separate process (``hf-bucket-sink serve``), so its memory and CPU stay out of
the client's figures.  The two still share this machine's cores; the harness records the server's
CPU separately so that can be read off the report.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

_URL = re.compile(r"https?://[0-9A-Za-z.\-\[\]:]+:\d+")


def _serve_command() -> list[str]:
    exe = Path(sys.executable).parent / "hf-bucket-sink"
    if exe.exists():
        return [str(exe), "serve"]
    return [sys.executable, "-m", "hf_bucket_sink.cli", "serve"]


class HubProcess:
    """``hf-bucket-sink serve`` on a free loopback port with a fresh data dir.

    Also owns the client-side Xet cache directory for clients of this hub (``xet_cache``): hf_xet
    keeps a shard cache that lets a client skip chunks it uploaded before, so every hub that must
    look "empty" to its clients gets a fresh cache too.
    """

    def __init__(self, root: Path, *, user: str = "bench", bandwidth_limit: int | None = None, start_timeout_s: float = 60.0) -> None:
        self.root = root
        self.data_dir = root / "hub-data"
        self.xet_cache = root / "xet-cache"
        self.user = user
        self.token = "hf_bench_" + secrets.token_hex(12)
        self.bandwidth_limit = bandwidth_limit
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._log: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> HubProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.xet_cache.mkdir(parents=True, exist_ok=True)
        cmd = [*_serve_command(), "--host", "127.0.0.1", "--port", "0", "--data-dir", str(self.data_dir),
               "--user", self.user, "--token", self.token]
        if self.bandwidth_limit:
            cmd += ["--bandwidth-limit", str(int(self.bandwidth_limit))]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.url:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.close()
                raise RuntimeError(f"the local Hub did not print its URL within {self.start_timeout_s:.0f} s") from None
            if line is None:
                self.close()
                raise RuntimeError("the local Hub exited during start-up:\n" + "".join(self._log[-40:]))
            match = _URL.search(line)
            if match:
                self.url = match.group(0).rstrip("/")
        return self

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        # keep reading for the server's whole life: a full stdout pipe would stall it
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.append(line)
            if len(self._log) > 500:
                del self._log[:250]
            lines.put(line)
        lines.put(None)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)  # hub data can be GBs: never leave it behind

    # -- use -----------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def client_env(self) -> dict[str, str]:
        """Environment for a client of this hub (its own Xet cache; no progress bars)."""
        env = dict(os.environ)
        env["HF_XET_CACHE"] = str(self.xet_cache)
        env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        env.pop("HF_TOKEN", None)  # everything is passed explicitly
        return env

    def create_bucket(self, name: str) -> str:
        """Create ``user/name`` with the official client and return its id."""
        from huggingface_hub import HfApi

        bucket_id = f"{self.user}/{name}"
        HfApi(endpoint=self.url, token=self.token).create_bucket(bucket_id, exist_ok=True)
        return bucket_id

    def stats(self) -> dict[str, Any]:
        """The server's own counters (``GET /_localhub/stats``)."""
        req = urllib.request.Request(f"{self.url}/_localhub/stats", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(json.loads(resp.read()))

    def rss_bytes(self) -> int | None:
        """Current RSS of the server process (for the report's context, not for any ratio)."""
        import psutil

        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return None
