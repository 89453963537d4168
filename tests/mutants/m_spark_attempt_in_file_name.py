"""Mutant spark_attempt_in_file_name: retried/speculative attempts never leave two files for one partition."""

PROMISE = 'File names depend on the write id and the partition id, never on the attempt: two attempts of one partition leave one file.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = 'target = opts.base.join(f"{directory}part-{pid_:05d}-{self.write_id}-c{index:03d}.{ext}")'
REPLACE = 'target = opts.base.join(f"{directory}part-{pid_:05d}-{self.write_id}-a{attempt}-c{index:03d}.{ext}")'
TESTS = [
    "tests/spark/test_commit.py::test_two_attempts_of_one_partition_leave_one_file",
]
