"""The streaming, transactional fsspec filesystem for ``hf://buckets`` (public name: :mod:`hf_bucket_sink.filesystem`).

- :mod:`.filesystem`: :class:`BucketFileSystem` (an ``HfFileSystem`` whose bucket paths stream) and
  the ``hf`` protocol registration used by ``install()``;
- :mod:`.files`: the write file (streaming, refuses incomplete Parquet/Arrow) and the pinned read file;
- :mod:`.transaction`: ``fs.transaction``, one upload session and one commit per bucket.
"""

from hf_bucket_sink.engines.filesystem.files import BucketReadFile, BucketWriteFile
from hf_bucket_sink.engines.filesystem.filesystem import BucketFileSystem, register_filesystem, unregister_filesystem
from hf_bucket_sink.engines.filesystem.transaction import BucketTransaction

__all__ = [
    "BucketFileSystem", "BucketTransaction", "BucketWriteFile", "BucketReadFile",
    "register_filesystem", "unregister_filesystem",
]
