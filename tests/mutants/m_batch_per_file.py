"""Mutant batch_per_file: A partitioned output of <= 1,000 files is registered in one /batch call: a reader never sees it half registered."""

PROMISE = 'A partitioned output of <= 1,000 files is registered in one /batch call: a reader never sees it half registered.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    for start in range(0, len(lines), BATCH_LIMIT):\n        chunk = lines[start : start + BATCH_LIMIT]\n'
REPLACE = '    for start in range(0, len(lines), 1):\n        chunk = lines[start : start + 1]\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_a_reader_never_sees_a_partitioned_output_half_registered",
]
