"""Mutant prepared_commit_stale_token: A prepared commit whose seeded CAS token is about to expire is dropped, not used."""

PROMISE = 'A prepared commit whose seeded CAS token is about to expire is dropped, not used.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '    if prepared.expires_at - time.time() < PREPARED_MIN_LIFETIME_S:'
REPLACE = '    if False:'
TESTS = [
    "tests/integration/test_sink_loop.py::test_a_prepared_commit_whose_token_is_about_to_expire_is_not_used"
]
