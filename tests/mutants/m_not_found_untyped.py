"""Mutant not_found_untyped: A missing bucket is a BucketNotFoundError raised before the query runs."""

PROMISE = 'A missing bucket is a BucketNotFoundError raised before the query runs.'
FILE = 'src/hf_bucket_sink/core/hub.py'
SEARCH = '        if status == 404 and response.headers.get("X-Error-Code", "RepoNotFound") == "RepoNotFound":'
REPLACE = '        if False:'
TESTS = [
    "tests/integration/test_sink_parquet.py::test_errors_are_raised_before_the_query_runs"
]
