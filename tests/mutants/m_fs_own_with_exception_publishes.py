"""Mutant fs_own_with_exception_publishes: A bucket file closed on the way out of an exception (its own `with` block, or a library's error path) registers nothing."""

PROMISE = "A bucket file closed on the way out of an exception (its own `with` block, or a library's error path) registers nothing."
FILE = 'src/hf_bucket_sink/engines/filesystem/files.py'
SEARCH = '                if failing is not None and not self.discarded:'
REPLACE = '                if False and failing is not None and not self.discarded:'
TESTS = [
    'tests/integration/test_filesystem_semantics.py::test_visible_on_close_never_after_exception_in_its_with',
    'tests/integration/test_filesystem_failures.py::test_pyarrow_writer_failing_outside_transaction_publishes_nothing'
]
