"""Mutant commit_error_not_oserror: CommitError is an OSError (documented)."""

PROMISE = 'CommitError is an OSError (documented).'
FILE = 'src/hf_bucket_sink/errors.py'
SEARCH = 'class CommitError(BucketSinkError, OSError):'
REPLACE = 'class CommitError(BucketSinkError, RuntimeError):'
TESTS = [
    "tests/unit/test_public_api.py::test_every_error_is_a_bucket_sink_error_and_its_documented_builtin"
]
