"""Mutant fs_torn_footer_published: A .parquet/.arrow file whose footer does not parse is refused on close (IncompleteFileError) and nothing is registered."""

PROMISE = 'A .parquet/.arrow file whose footer does not parse is refused on close (IncompleteFileError) and nothing is registered.'
FILE = 'src/hf_bucket_sink/engines/filesystem/files.py'
SEARCH = '                    if problem is not None and self.autocommit:'
REPLACE = '                    if False and problem is not None and self.autocommit:'
TESTS = [
    'tests/integration/test_filesystem_semantics.py::test_incomplete_parquet_and_arrow_are_refused',
    'tests/integration/test_filesystem_failures.py::test_duckdb_copy_failing_outside_transaction_publishes_nothing'
]
