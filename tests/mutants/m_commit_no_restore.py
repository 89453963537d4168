"""Mutant commit_no_restore: After concurrent writers, every path the winning manifest lists holds the winner's bytes (a reader by path agrees with the manifest)."""

PROMISE = "After concurrent writers, every path the winning manifest lists holds the winner's bytes (a reader by path agrees with the manifest)."
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    elif seen_change and manifest_record is not None:\n'
REPLACE = '    elif False:\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_commit_point_that_moves_while_the_manifest_is_stored_is_prepared_again",
    "tests/integration/test_commit_protocol.py::test_two_concurrent_commits_many_times_leave_exactly_one_whole_output",
    "tests/integration/test_commit_protocol.py::test_two_concurrent_partitioned_sinks_leave_exactly_one_of_them",
]
