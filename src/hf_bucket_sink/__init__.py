"""hf-bucket-sink: stream Polars pipelines into Hugging Face Storage Buckets over Xet.

>>> import polars as pl, hf_bucket_sink
>>> lf = pl.scan_parquet("lineitem.parquet").filter(pl.col("l_quantity") < 45)
>>> print(hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/my-bucket/lineitem.parquet"))

or, after ``hf_bucket_sink.install()``, Polars' own ``lf.sink_parquet("hf://buckets/...")``.
Memory stays flat as the data grows, only new chunks are uploaded, and the file becomes
visible only once every byte is stored.

Names are imported lazily, so ``import hf_bucket_sink.localhub`` (the emulator) loads
neither Polars nor the client side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static view for type checkers and IDEs
    from hf_bucket_sink.errors import (
        AuthenticationError,
        BucketAccessDeniedError,
        BucketFileExistsError,
        BucketFileNotFoundError,
        BucketNotFoundError,
        BucketSinkError,
        CommitError,
        HubResponseError,
        InvalidBucketPathError,
        InvalidOptionError,
        QueryError,
        UnsupportedTargetError,
        UploadError,
    )
    from hf_bucket_sink.hooks import install, uninstall
    from hf_bucket_sink.core.paths import BucketPath
    from hf_bucket_sink.core.result import FileResult, SinkResult
    from hf_bucket_sink.polars.scans import (
        read_csv,
        read_ipc,
        read_ndjson,
        read_parquet,
        scan_csv,
        scan_ipc,
        scan_ndjson,
        scan_parquet,
    )
    from hf_bucket_sink.polars.sinks import (
        sink_csv,
        sink_ipc,
        sink_ndjson,
        sink_parquet,
        write_csv,
        write_ipc,
        write_ndjson,
        write_parquet,
    )

_WHERE = {
    "sink_parquet": "polars.sinks",
    "write_parquet": "polars.sinks",
    "sink_csv": "polars.sinks",
    "sink_ndjson": "polars.sinks",
    "sink_ipc": "polars.sinks",
    "write_csv": "polars.sinks",
    "write_ndjson": "polars.sinks",
    "write_ipc": "polars.sinks",
    **{name: "polars.scans" for name in ("scan_parquet", "scan_csv", "scan_ndjson", "scan_ipc", "read_parquet", "read_csv", "read_ndjson", "read_ipc")},
    "install": "hooks",
    "uninstall": "hooks",
    "BucketPath": "core.paths",
    "SinkResult": "core.result",
    "FileResult": "core.result",
    **{
        name: "errors"
        for name in (
            "BucketSinkError",
            "AuthenticationError",
            "BucketAccessDeniedError",
            "BucketFileExistsError",
            "BucketFileNotFoundError",
            "BucketNotFoundError",
            "CommitError",
            "HubResponseError",
            "InvalidBucketPathError",
            "InvalidOptionError",
            "QueryError",
            "UnsupportedTargetError",
            "UploadError",
        )
    },
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hf_bucket_sink' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hf_bucket_sink.{module}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
