"""Mutant spark_preflight_no_write_check: the preflight proves write access before any task."""

PROMISE = 'The preflight (driver, before any task) proves token, bucket and WRITE access; a read-only token fails there.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '        hub.xet_token(opts.base.bucket_id, write=True)  # proves token + bucket + write access'
REPLACE = '        pass'
TESTS = [
    "tests/spark/test_commit.py::test_preflight_refuses_a_read_only_token_before_any_task",
]
