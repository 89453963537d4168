"""Ray Data into and out of Storage Buckets (needs ``pip install "hf-bucket-sink[ray]"``)::

    from hf_bucket_sink.ray import BucketDatasink, read_bucket

    ds.write_datasink(BucketDatasink("hf://buckets/me/crawl/clean/", format="parquet"))
    back = read_bucket("hf://buckets/me/crawl/clean/", format="parquet")

The implementation is the package :mod:`hf_bucket_sink.engines.ray` (``datasink``, ``encoder``,
``arrow_fs``, ``reader``, ``formats``); this module is its public name.
"""

from hf_bucket_sink.engines.ray import (
    BucketDatasink,
    BucketFileSystemHandler,
    TaskWrite,
    bucket_filesystem,
    read_bucket,
)

__all__ = ["BucketDatasink", "TaskWrite", "BucketFileSystemHandler", "bucket_filesystem", "read_bucket"]
