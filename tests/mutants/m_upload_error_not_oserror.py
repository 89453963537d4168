"""Mutant upload_error_not_oserror: UploadError is an OSError (documented): `except OSError` catches a failed upload."""

PROMISE = 'UploadError is an OSError (documented): `except OSError` catches a failed upload.'
FILE = 'src/hf_bucket_sink/errors.py'
SEARCH = 'class UploadError(BucketSinkError, OSError):'
REPLACE = 'class UploadError(BucketSinkError, RuntimeError):'
TESTS = [
    "tests/unit/test_public_api.py::test_every_error_is_a_bucket_sink_error_and_its_documented_builtin"
]
