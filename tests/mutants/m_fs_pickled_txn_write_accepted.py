"""Mutant fs_pickled_txn_write_accepted: A filesystem pickled while its transaction is open (Dask distributed, spawn) refuses to write in the other process instead of publishing file by file."""

PROMISE = 'A filesystem pickled while its transaction is open (Dask distributed, spawn) refuses to write in the other process instead of publishing file by file.'
FILE = 'src/hf_bucket_sink/engines/filesystem/filesystem.py'
SEARCH = '        state["_transaction_pid"] = os.getpid() if self._intrans else self._transaction_pid'
REPLACE = '        state["_transaction_pid"] = self._transaction_pid'
TESTS = [
    'tests/integration/test_filesystem_failures.py::test_transaction_refuses_files_opened_from_another_process[spawn]'
]
