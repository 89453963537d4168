"""Mutant fs_error_path_close_publishes: A close() that a library makes on its own error path (pyarrow's ParquetWriter.__exit__ writes a valid footer first) registers nothing, outside a transaction too."""

PROMISE = "A close() that a library makes on its own error path (pyarrow's ParquetWriter.__exit__ writes a valid footer first) registers nothing, outside a transaction too."
FILE = 'src/hf_bucket_sink/engines/filesystem/files.py'
SEARCH = '        return failing if failing is not self._opened_during else None'
REPLACE = '        return None'
TESTS = [
    'tests/integration/test_filesystem_failures.py::test_pyarrow_writer_failing_outside_transaction_publishes_nothing'
]
