"""Mutant spark_error_mode_ignored: if_exists='error' on an existing output fails in the preflight."""

PROMISE = "mode error (if_exists='error') on a folder that holds files fails on the driver before any task."
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '            if existing is not None and opts.if_exists == "error":'
REPLACE = '            if False:'
TESTS = [
    "tests/spark/test_commit.py::test_preflight_refuses_an_existing_output_in_error_mode",
]
