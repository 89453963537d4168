"""Mutant commit_failed_lines_ok: A /batch answered 200 with failed lines is a failure: the commit point is not written over unregistered files."""

PROMISE = 'A /batch answered 200 with failed lines is a failure: the commit point is not written over unregistered files.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '        return applied, dict(outcome.failed)\n'
REPLACE = '        return [line.path for line in lines], {}\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_fault_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[0-500-report]",
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[2-2-report]",
]
