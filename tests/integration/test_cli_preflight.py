"""The write commands' order (``cli.common.stream_into_bucket``): the token is proved before any source is read.

No Hub is needed: without a token the command must stop before it touches the network or stdin.
What stdin gave is measured from the file the test hands in: a child process reading stdin moves
the offset of the open file it shares with the test.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest


@pytest.mark.parametrize(
    "args",
    [
        ["cp", "-", "hf://buckets/me/b/x.parquet", "--from", "parquet"],
        ["sql", "SELECT * FROM t", "-t", "t=-", "--from", "parquet", "--into", "hf://buckets/me/b/q.parquet"],
    ],
    ids=["cp", "sql"],
)
def test_no_token_fails_before_stdin_is_read(args: list[str], tmp_path: Path) -> None:
    data = tmp_path / "in.parquet"
    buffer = io.BytesIO()
    pl.DataFrame({"a": list(range(1000))}).write_parquet(buffer)
    data.write_bytes(buffer.getvalue())
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HOME=str(tmp_path / "home"), HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_DISABLE_PROGRESS_BARS="1")
    with data.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "hf_bucket_sink.cli", *args],
            stdin=stdin, env=env, capture_output=True, text=True, timeout=120,
        )
        consumed = os.lseek(stdin.fileno(), 0, os.SEEK_CUR)
    assert result.returncode == 1, result.stderr
    assert "needs a Hugging Face token" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert consumed == 0, f"{consumed} bytes of stdin were read before the token was checked"
