"""Mutant not_found_is_permission: BucketNotFoundError is a FileNotFoundError (documented)."""

PROMISE = 'BucketNotFoundError is a FileNotFoundError (documented).'
FILE = 'src/hf_bucket_sink/errors.py'
SEARCH = 'class BucketNotFoundError(_HubHTTPError, FileNotFoundError, hf_errors.BucketNotFoundError):'
REPLACE = 'class BucketNotFoundError(_HubHTTPError, PermissionError, hf_errors.BucketNotFoundError):'
TESTS = [
    "tests/unit/test_public_api.py::test_every_error_is_a_bucket_sink_error_and_its_documented_builtin"
]
