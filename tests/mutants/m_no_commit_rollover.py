"""Mutant no_commit_rollover: a partitioned sink rolls over to a new hf_xet commit every files_per_commit files."""

PROMISE = (
    "A partitioned sink rolls over to a new hf_xet commit every files_per_commit files and stores each full one while "
    "the query runs (hf_xet's per-file state stays bounded in the number of files)."
)
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '            full = group.opened >= self.tuning.files_per_commit\n'
REPLACE = '            full = False\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_partitions_polars_released_are_stored_while_the_query_runs"
]
