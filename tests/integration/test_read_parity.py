"""Schema parity with Polars 2.1 (issue 18.2), measured: each case is read twice, by Polars from local
copies and by hf_bucket_sink from the same files in a bucket, and the answers must agree (the same
frame, or the same exception class with the same first line of message)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huggingface_hub import HfApi

import hf_bucket_sink
from hf_bucket_sink.localhub import LocalHub

# name -> files (relative path -> rows)
CASES: dict[str, dict[str, dict[str, list[Any]]]] = {
    "missing": {"m/0.parquet": {"a": [1], "b": [2]}, "m/1.parquet": {"a": [3]}, "m/2.parquet": {"a": [4], "b": [5]}},
    "extra": {"e/0.parquet": {"a": [1]}, "e/1.parquet": {"a": [3], "b": [2]}},
    "type": {"t/0.parquet": {"a": [1]}, "t/1.parquet": {"a": [1.5]}},
    "order": {"o/0.parquet": {"a": [1], "b": [2]}, "o/1.parquet": {"b": [3], "a": [4]}},
    "hive": {"h/k=1/0.parquet": {"a": [1]}, "h/k=2/0.parquet": {"a": [2]}},
}
OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "missing_insert": {"missing_columns": "insert"},
    "extra_ignore": {"extra_columns": "ignore"},
    "both": {"missing_columns": "insert", "extra_columns": "ignore"},
    "cast": {"cast_options": pl.ScanCastOptions(integer_cast="upcast", float_cast="upcast")},
    "schema": {"schema": {"a": pl.Int64, "b": pl.Int64}, "missing_columns": "insert"},
    "row_index": {"row_index_name": "i", "row_index_offset": 10},
    "file_paths": {"include_file_paths": "src"},
    "no_hive": {"hive_partitioning": False},
    "hive_schema": {"hive_partitioning": True, "hive_schema": {"k": pl.String}},
}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalHub, Path]]:
    root = tmp_path_factory.mktemp("local")
    with LocalHub(data_dir=tmp_path_factory.mktemp("hub")) as h:
        api = HfApi(endpoint=h.url, token=h.token)
        api.create_bucket(f"{h.user}/parity")
        add = []
        for files in CASES.values():
            for rel, rows in files.items():
                local = root / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                pl.DataFrame(rows).write_parquet(local)
                add.append((local.read_bytes(), rel))
        api.batch_bucket_files(f"{h.user}/parity", add=add)
        yield h, root


def answer(read: Any, prefix: str) -> Any:
    try:
        df = read()
    except Exception as exc:  # the answer compared is the exception's class and first line
        return type(exc), str(exc).splitlines()[0].split(" File ")[0].split(" (file")[0]
    if "src" in df.columns:  # the same file named both ways: compare paths below the folder
        df = df.with_columns(pl.col("src").str.replace(prefix, "", literal=True).str.replace_all(os.sep, "/", literal=True))
    return df.to_dict(as_series=False), df.schema


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("case", CASES)
def test_same_answer_as_polars_on_local_copies(copies: tuple[LocalHub, Path], case: str, option: str) -> None:
    hub, root = copies
    folder = next(iter(CASES[case])).split("/")[0] + "/"
    options = OPTIONS[option]
    local = answer(lambda: pl.scan_parquet(f"{root}/{folder}", **options).collect(), f"{root}/")
    remote = answer(
        lambda: hf_bucket_sink.scan_parquet(
            f"hf://buckets/{hub.user}/parity/{folder}", storage_options={"token": hub.token, "endpoint": hub.url}, **options
        ).collect(),
        f"hf://buckets/{hub.user}/parity/",
    )
    assert remote == local
