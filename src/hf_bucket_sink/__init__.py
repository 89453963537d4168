"""hf-bucket-sink: stream Polars pipelines into Hugging Face Storage Buckets over Xet.

>>> import polars as pl, hf_bucket_sink
>>> lf = pl.scan_parquet("lineitem.parquet").filter(pl.col("l_quantity") < 45)
>>> print(hf_bucket_sink.sink_parquet(lf, "hf://buckets/me/my-bucket/lineitem.parquet"))

or, after ``hf_bucket_sink.install()``, Polars' own ``lf.sink_parquet("hf://buckets/...")``.
Memory stays flat as the data grows, only new chunks are uploaded, and the file becomes
visible only once every byte is stored.
"""

from hf_bucket_sink.errors import (
    AuthenticationError,
    BucketAccessDeniedError,
    BucketFileExistsError,
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
from hf_bucket_sink.patch import install, uninstall
from hf_bucket_sink.paths import BucketPath
from hf_bucket_sink.result import FileResult, SinkResult
from hf_bucket_sink.sinks import sink_parquet, write_parquet

__all__ = [
    # writing
    "sink_parquet",
    "write_parquet",
    "install",
    "uninstall",
    # values
    "BucketPath",
    "SinkResult",
    "FileResult",
    # errors
    "BucketSinkError",
    "AuthenticationError",
    "BucketAccessDeniedError",
    "BucketFileExistsError",
    "BucketNotFoundError",
    "CommitError",
    "HubResponseError",
    "InvalidBucketPathError",
    "InvalidOptionError",
    "QueryError",
    "UnsupportedTargetError",
    "UploadError",
]
