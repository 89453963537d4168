"""Mutant stale_manifest_kept: A smaller overwrite of a partitioned output does not leave the old manifest describing other files."""

PROMISE = 'A smaller overwrite of a partitioned output does not leave the old manifest describing other files.'
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = 'manifest=builder, delete_first=delete_first)'
REPLACE = 'manifest=builder, delete_first=())'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_more_than_a_batch_of_files_registers_in_order_and_writes_the_manifest_last"
]
