"""An fsspec filesystem for pandas, pyarrow, DuckDB and Dask that streams into Storage Buckets::

    import fsspec, hf_bucket_sink
    hf_bucket_sink.install()                    # fsspec's "hf" protocol -> BucketFileSystem
    fs = fsspec.filesystem("hf")
    with fs.transaction:                        # every file below becomes visible at once, or none
        with fs.open("hf://buckets/me/b/x.parquet", "wb") as f:
            df.to_parquet(f)

Or without ``install()``: ``BucketFileSystem(token=...)``. The implementation lives in
:mod:`hf_bucket_sink.engines.filesystem`; this module is its public name.
"""

from hf_bucket_sink.engines.filesystem import (
    BucketFileSystem,
    BucketReadFile,
    BucketTransaction,
    BucketWriteFile,
    register_filesystem,
    unregister_filesystem,
)
from hf_bucket_sink.errors import IncompleteFileError

__all__ = [
    "BucketFileSystem", "BucketTransaction", "BucketWriteFile", "BucketReadFile", "IncompleteFileError",
    "register_filesystem", "unregister_filesystem",
]
