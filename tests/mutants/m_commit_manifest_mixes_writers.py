"""Mutant commit_manifest_mixes_writers: A manifest never lists a mix of two writers: a commit that finds a concurrent one replaces it whole."""

PROMISE = 'A manifest never lists a mix of two writers: a commit that finds a concurrent one replaces it whole.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    if mode == "append" and start_manifest is not None:\n        kept = [f for f in start_manifest.files if f.path not in new_paths]\n'
REPLACE = '    base = current if current is not None else start_manifest  # MUTANT: keep the concurrent writer\'s files\n    if base is not None and (mode == "append" or base is not start_manifest):\n        kept = [f for f in base.files if f.path not in new_paths]\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_concurrent_commit_is_replaced_whole",
    "tests/integration/test_commit_protocol.py::test_two_concurrent_commits_many_times_leave_exactly_one_whole_output",
]
