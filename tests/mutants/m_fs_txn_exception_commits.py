"""Mutant fs_txn_exception_commits: A `with fs.transaction:` block left by an exception (an engine failing mid-write, Ctrl-C) registers nothing; older files at those paths stay intact."""

PROMISE = 'A `with fs.transaction:` block left by an exception (an engine failing mid-write, Ctrl-C) registers nothing; older files at those paths stay intact.'
FILE = 'src/hf_bucket_sink/engines/filesystem/transaction.py'
SEARCH = '            if commit:\n                self._commit(sessions, files)'
REPLACE = '            if True:\n                self._commit(sessions, files)'
TESTS = [
    'tests/integration/test_filesystem_engines.py::test_pandas_failure_inside_transaction',
    'tests/integration/test_filesystem_engines.py::test_duckdb_failure_inside_transaction',
    'tests/integration/test_filesystem_failures.py::test_ctrl_c_inside_transaction_registers_nothing_and_leaves_no_thread'
]
