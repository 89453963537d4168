"""Mutant commit_take_back_unconditional: A failed commit takes back only its new paths that no commit point lists (a concurrent writer may have committed them)."""

PROMISE = 'A failed commit takes back only its new paths that no commit point lists (a concurrent writer may have committed them).'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    listed = current.paths if current is not None else frozenset()\n'
REPLACE = '    listed = frozenset()\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_failed_commit_does_not_take_back_a_path_a_concurrent_commit_lists",
]
