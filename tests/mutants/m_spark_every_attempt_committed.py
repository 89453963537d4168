"""Mutant spark_every_attempt_committed: the driver keeps one message per partition id."""

PROMISE = 'commit() keeps one message per partition: a second finished attempt of a partition is not registered twice (nor fails the commit).'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '                by_partition[m.partition_id] = m  # a retried/speculative attempt: the same names, keep one'
REPLACE = '                by_partition[m.partition_id * 1000 + m.attempt] = m'
TESTS = [
    "tests/spark/test_commit.py::test_two_attempts_of_one_partition_leave_one_file",
]
