"""Mutant fs_forked_txn_write_accepted: A file opened inside a transaction from a forked child process is refused (typed UploadError), not written into a copy of the transaction that never commits."""

PROMISE = 'A file opened inside a transaction from a forked child process is refused (typed UploadError), not written into a copy of the transaction that never commits.'
FILE = 'src/hf_bucket_sink/engines/filesystem/filesystem.py'
SEARCH = '            started_in = self.transaction.pid  # a forked child inherits the open transaction as is'
REPLACE = '            started_in = os.getpid()'
TESTS = [
    'tests/integration/test_filesystem_failures.py::test_transaction_refuses_files_opened_from_another_process[fork]'
]
