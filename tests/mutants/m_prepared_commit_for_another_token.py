"""Mutant prepared_commit_for_another_token: A commit prepared for one configuration (token, endpoint) is never used by a sink of another."""

PROMISE = 'A commit prepared for one configuration (token, endpoint) is never used by a sink of another.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '           _frozen(token_refresh_headers), _frozen(custom_headers), progress_callback is not None)'
REPLACE = '           _frozen(custom_headers), progress_callback is not None)'
TESTS = [
    "tests/integration/test_sink_loop.py::test_another_token_never_gets_a_commit_prepared_for_the_first"
]
