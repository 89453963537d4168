"""Mutant duplicate_partition_path: Two partitions given the same file path are refused instead of one silently replacing the other."""

PROMISE = 'Two partitions given the same file path are refused instead of one silently replacing the other.'
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '            if target.path in self._paths:'
REPLACE = '            if False:'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_two_partitions_with_one_path_are_refused"
]
