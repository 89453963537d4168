"""Mutant if_exists_error_ignored: if_exists='error' refuses an existing target before the query runs."""

PROMISE = "if_exists='error' refuses an existing target before the query runs."
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = '    previous = _check_if_exists(hub, parsed, if_exists)'
REPLACE = '    previous = _check_if_exists(hub, parsed, "overwrite")'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_if_exists_error_fails_before_the_query_runs",
    "tests/integration/test_cli.py::test_if_exists_error_keeps_the_existing_file"
]
