"""Mutant commit_no_point_recheck: The commit point is checked once more right before it is replaced; if it moved, the commit is prepared again (the replaced output retired)."""

PROMISE = 'The commit point is checked once more right before it is replaced; if it moved, the commit is prepared again (the replaced output retired).'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '            if _point(hub, bucket_id, directory) == point:\n'
REPLACE = '            if True:\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_commit_point_that_moves_while_the_manifest_is_stored_is_prepared_again",
]
