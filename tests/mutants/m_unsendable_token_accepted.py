"""Mutant unsendable_token_accepted: A token that cannot travel in an HTTP header is an InvalidOptionError, not a UnicodeEncodeError."""

PROMISE = 'A token that cannot travel in an HTTP header is an InvalidOptionError, not a UnicodeEncodeError.'
FILE = 'src/hf_bucket_sink/core/credentials.py'
SEARCH = '    if not (token.isascii() and token.isprintable()) or any(ch.isspace() for ch in token):'
REPLACE = '    if False:'
TESTS = [
    "tests/unit/test_auth.py::test_unsendable_tokens_are_typed_errors_from_every_source",
    "tests/unit/test_auth.py::test_arbitrary_options_never_crash"
]
