"""Mutant preflight_read_token: Preflight asks for a write token before the query runs: a read-only token fails before any work."""

PROMISE = 'Preflight asks for a write token before the query runs: a read-only token fails before any work.'
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = '    access = hub.xet_token(bucket_id, write=True)  # preflight'
REPLACE = '    access = hub.xet_token(bucket_id, write=False)  # preflight'
TESTS = [
    "tests/integration/test_sink_parquet.py::test_errors_are_raised_before_the_query_runs"
]
