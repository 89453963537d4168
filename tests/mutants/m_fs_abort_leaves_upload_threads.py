"""Mutant fs_abort_leaves_upload_threads: An aborted transaction stops and joins every upload thread it started."""

PROMISE = 'An aborted transaction stops and joins every upload thread it started.'
FILE = 'src/hf_bucket_sink/engines/filesystem/transaction.py'
SEARCH = '        for session in sessions.values():\n            session.abort()'
REPLACE = '        for session in sessions.values():\n            pass'
TESTS = [
    'tests/integration/test_filesystem_failures.py::test_no_thread_left_after_failed_write_or_aborted_transaction'
]
