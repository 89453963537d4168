"""Mutant spark_read_not_pinned: a read planned before an overwrite reads the planned version whole."""

PROMISE = 'A Spark read planned before an overwrite reads the files it planned at their Xet hashes, even after they were retired.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '            except BucketFileNotFoundError:\n'
REPLACE = '            except ZeroDivisionError:\n'
TESTS = [
    "tests/spark/test_reader.py::test_a_read_planned_before_an_overwrite_reads_that_version_whole",
]
