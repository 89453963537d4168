"""hf-bucket-sink: stream Polars pipelines into Hugging Face Storage Buckets over Xet."""

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

__all__ = [
    "AuthenticationError",
    "BucketAccessDeniedError",
    "BucketFileExistsError",
    "BucketNotFoundError",
    "BucketSinkError",
    "CommitError",
    "HubResponseError",
    "InvalidBucketPathError",
    "InvalidOptionError",
    "QueryError",
    "UnsupportedTargetError",
    "UploadError",
]
