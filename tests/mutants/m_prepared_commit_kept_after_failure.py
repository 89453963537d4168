"""Mutant prepared_commit_kept_after_failure: A failed sink keeps no prepared Xet commit (nothing of it is left for the next sink)."""

PROMISE = 'A failed sink keeps no prepared Xet commit (nothing of it is left for the next sink).'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '        if discard:\n            discard_prepared()\n\n    return commit, settle'
REPLACE = '        pass\n\n    return commit, settle'
TESTS = [
    "tests/integration/test_sink_loop.py::test_a_failed_sink_keeps_nothing_prepared"
]
