"""Mutant commit_no_last_check: A writer whose commit point was replaced right after its own removes its files the winner does not list and reports superseded_by."""

PROMISE = 'A writer whose commit point was replaced right after its own removes its files the winner does not list and reports superseded_by.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    if manifest_record is not None and not lost:\n'
REPLACE = '    if False:\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_writer_replaced_right_after_its_commit_point_takes_back_its_unlisted_files",
    "tests/integration/test_commit_protocol.py::test_two_concurrent_commits_many_times_leave_exactly_one_whole_output",
]
