"""Mutant query_failure_commits: A query that fails mid-stream registers nothing; the old version stays intact."""

PROMISE = 'A query that fails mid-stream registers nothing; the old version stays intact.'
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = '        except Exception as exc:\n            failure = session.failure()'
REPLACE = '        except Exception as exc:\n            return session.commit()\n            failure = session.failure()'
TESTS = [
    "tests/integration/test_sink_parquet.py::test_query_failure_mid_stream_registers_nothing",
    "tests/integration/test_formats_partitioned.py::test_failing_query_during_partitioned_sink_registers_nothing"
]
