"""Mutant read_expired_signed_url_fails: A signed URL the CDN refuses (expired) sends the read back through the Hub's resolve route: a long scan outlives its URLs."""

PROMISE = "A signed URL the CDN refuses (expired) sends the read back through the Hub's resolve route: a long scan outlives its URLs."
FILE = 'src/hf_bucket_sink/core/hub.py'
SEARCH = '        if response.status_code in (401, 403, 404, 410):\n            return None\n'
REPLACE = ''
TESTS = [
    'tests/integration/test_read_lazy.py::test_an_expired_signed_url_is_resolved_again',
]
