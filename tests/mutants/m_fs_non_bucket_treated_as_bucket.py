"""Mutant fs_non_bucket_treated_as_bucket: Every non-bucket hf:// path (models, datasets, spaces) reaches HfFileSystem's own code."""

PROMISE = "Every non-bucket hf:// path (models, datasets, spaces) reaches HfFileSystem's own code."
FILE = 'src/hf_bucket_sink/engines/filesystem/filesystem.py'
SEARCH = '        if not stripped.startswith(_BUCKETS):\n            return None'
REPLACE = '        if not stripped.startswith(_BUCKETS):\n            stripped = _BUCKETS + stripped.split("/", 1)[-1]'
TESTS = [
    'tests/integration/test_filesystem_semantics.py::test_non_bucket_paths_reach_hffilesystem'
]
