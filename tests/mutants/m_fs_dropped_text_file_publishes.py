"""Mutant fs_dropped_text_file_publishes: A text-mode bucket file dropped without close() (pandas leaves a handle it was given open when it fails) is discarded, not published by garbage collection."""

PROMISE = 'A text-mode bucket file dropped without close() (pandas leaves a handle it was given open when it fails) is discarded, not published by garbage collection.'
FILE = 'src/hf_bucket_sink/engines/filesystem/files.py'
SEARCH = '        if isinstance(raw, BucketWriteFile):\n            raw.abandon()'
REPLACE = '        if isinstance(raw, BucketWriteFile):\n            self.close()  # what io.TextIOWrapper does when collected: flush and close, i.e. publish'
TESTS = [
    'tests/integration/test_filesystem_failures.py::test_pandas_to_csv_failing_outside_transaction_publishes_nothing'
]
