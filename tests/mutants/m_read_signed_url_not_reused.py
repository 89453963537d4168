"""Mutant read_signed_url_not_reused: A scan reads a version's ranges from the signed CDN URL of the Hub's first redirect: one request per range, not two."""

PROMISE = "A scan reads a version's ranges from the signed CDN URL of the Hub's first redirect: one request per range, not two."
FILE = 'src/hf_bucket_sink/core/remote_file.py'
SEARCH = '                if answer.signed_url is not None:\n'
REPLACE = '                if False:\n'
TESTS = [
    'tests/integration/test_read_lazy.py::test_a_scans_ranges_go_to_the_signed_url_after_one_resolve',
]
