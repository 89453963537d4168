"""Ray Data into and out of Storage Buckets: :class:`BucketDatasink` and :func:`read_bucket`.

Needs the ``ray`` extra (``pip install "hf-bucket-sink[ray]"``); the core package never imports
this package, so it never needs Ray::

    import ray
    from hf_bucket_sink.ray import BucketDatasink, read_bucket

    ds = ray.data.read_parquet("s3://…").map_batches(clean)
    sink = BucketDatasink("hf://buckets/me/crawl/clean/", format="parquet")
    ds.write_datasink(sink)                       # files visible only now, all together
    print(sink.result)                            # SinkResult: files, sizes, Xet hashes, rows

    back = read_bucket("hf://buckets/me/crawl/clean/", format="parquet")   # a ray.data.Dataset

One concept a module (the public names are :mod:`hf_bucket_sink.ray`'s):

- ``datasink``  :class:`BucketDatasink` (Ray's ``Datasink`` callbacks onto the commit protocol)
  and :class:`TaskWrite` (what a write task hands the driver);
- ``encoder``   :class:`~.encoder.TableFileEncoder`: one bucket file from Arrow tables
  (Parquet through pyarrow, CSV / NDJSON through Polars);
- ``arrow_fs``  :class:`BucketFileSystemHandler` / :func:`bucket_filesystem`: a read-only
  ``pyarrow.fs`` filesystem over bucket files, picklable without a token;
- ``reader``    :func:`read_bucket`: list on the driver, read in Ray tasks through ``arrow_fs``;
- ``formats``   the file formats both directions share (extension, content type).
"""

from __future__ import annotations

try:
    import ray  # noqa: F401  (checked here so the message below names the extra)
    import ray.data  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "hf_bucket_sink.ray needs Ray Data: pip install 'hf-bucket-sink[ray]' (or pip install 'ray[data]')."
    ) from exc

from hf_bucket_sink.engines.ray.arrow_fs import BucketFileSystemHandler, bucket_filesystem
from hf_bucket_sink.engines.ray.datasink import BucketDatasink, TaskWrite
from hf_bucket_sink.engines.ray.reader import read_bucket

__all__ = ["BucketDatasink", "TaskWrite", "BucketFileSystemHandler", "bucket_filesystem", "read_bucket"]
