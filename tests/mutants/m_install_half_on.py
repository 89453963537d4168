"""Mutant install_half_on: install() whose fsspec hook fails takes its Polars hook back (both or neither)."""

PROMISE = "install() leaves both hooks on or neither: a failing fsspec registration takes back the Polars hook it just installed."
FILE = "src/hf_bucket_sink/hooks.py"
SEARCH = "            if not polars_was_on:\n                polars_hook.uninstall()\n            raise"
REPLACE = "            raise"
TESTS = [
    "tests/unit/test_install.py::test_a_failing_fsspec_hook_takes_the_polars_hook_back",
]
