"""Mutant token_in_repr: The token never shows in repr (logs, tracebacks)."""

PROMISE = 'The token never shows in repr (logs, tracebacks).'
FILE = 'src/hf_bucket_sink/core/credentials.py'
SEARCH = 'token: str | None = field(default=None, repr=False)'
REPLACE = 'token: str | None = field(default=None, repr=True)'
TESTS = [
    "tests/unit/test_auth.py::test_token_is_never_in_repr"
]
