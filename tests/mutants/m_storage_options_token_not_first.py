"""Mutant storage_options_token_not_first: storage_options['token'] wins over HF_TOKEN and the token file."""

PROMISE = "storage_options['token'] wins over HF_TOKEN and the token file."
FILE = 'src/hf_bucket_sink/core/credentials.py'
SEARCH = '    if "token" in options and options["token"] is not None:'
REPLACE = '    if "token" in options and options["token"] is not None and not os.environ.get("HF_TOKEN"):'
TESTS = [
    "tests/unit/test_auth.py::test_precedence_option_env_file"
]
