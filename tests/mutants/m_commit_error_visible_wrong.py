"""Mutant commit_error_visible_wrong: A CommitError names exactly the paths the failed commit left visible (.visible)."""

PROMISE = 'A CommitError names exactly the paths the failed commit left visible (.visible).'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    return CommitError(message, visible=tuple(visible), not_visible=not_visible, previous_intact=previous_intact)\n'
REPLACE = '    return CommitError(message, visible=(), not_visible=not_visible, previous_intact=previous_intact)\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_fault_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-error]",
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-drop]",
]
