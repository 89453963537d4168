"""Mutant commit_lost_not_confirmed: A lost /batch answer is settled with paths-info: a line counts as applied only if its path holds the new Xet hash."""

PROMISE = 'A lost /batch answer is settled with paths-info: a line counts as applied only if its path holds the new Xet hash.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '            done = entry is not None and entry.get("xetHash") == line.xet_hash\n'
REPLACE = '            done = True\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_fault_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[0-500-drop]",
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-error]",
]
