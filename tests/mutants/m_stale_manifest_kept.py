"""Mutant stale_manifest_kept: An overwrite without a commit point (manifest=False) does not leave the old manifest describing other files."""

PROMISE = 'An overwrite without a commit point (manifest=False) does not leave the old manifest describing other files.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    if not replaces_point and current is not None and current.location == location:\n'
REPLACE = '    if False:\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_an_overwrite_without_a_commit_point_retires_the_old_one",
]
