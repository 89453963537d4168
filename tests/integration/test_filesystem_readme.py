"""The README's fsspec example (one write per engine) runs as written against the local Hub, and each
engine's output reads back equal to the source."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from hf_bucket_sink.filesystem import BucketFileSystem
from hf_bucket_sink.localhub import LocalHub

pytest.importorskip("duckdb")
pytest.importorskip("dask.dataframe")

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- fsspec-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its <!-- fsspec-example --> block"
    return match.group(1)


def test_readme_fsspec_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hf_bucket_sink

    with LocalHub(data_dir=tmp_path / "hub") as hub:
        from huggingface_hub import HfApi

        HfApi(endpoint=hub.url, token=hub.token).create_bucket(f"{hub.user}/b")
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", hub.token)
        BucketFileSystem.clear_instance_cache()  # the example's fsspec.filesystem("hf") reads the env afresh
        scope: dict[str, object] = {}
        try:
            code = example().replace("buckets/me/b/", f"buckets/{hub.user}/b/")  # "me" is reserved on the local Hub
            exec(compile(code, "README.md:fsspec-example", "exec"), scope)
            fs = BucketFileSystem(endpoint=hub.url, token=hub.token, skip_instance_cache=True)
            df = scope["df"]
            assert isinstance(df, pd.DataFrame)
            for name in ("pandas.parquet", "arrow.parquet", "duck.parquet"):
                with fs.open(f"hf://buckets/{hub.user}/b/{name}", "rb") as f:
                    back = pd.read_parquet(f)
                pd.testing.assert_frame_equal(back.sort_values("id").reset_index(drop=True), df, check_dtype=False)
            for folder in ("duck_parts", "dask"):
                files = fs.find(f"hf://buckets/{hub.user}/b/{folder}")
                assert len(files) >= 4, files
                parts = [pd.read_parquet(fs.open(p, "rb")) for p in files]
                assert sorted(pd.concat(parts)["id"]) == list(df["id"])
        finally:
            hf_bucket_sink.uninstall()
            BucketFileSystem.clear_instance_cache()
