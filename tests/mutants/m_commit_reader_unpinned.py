"""Mutant commit_reader_unpinned: A reader following the manifest reads the files at the Xet hashes it lists, not whatever the paths hold now."""

PROMISE = 'A reader following the manifest reads the files at the Xet hashes it lists, not whatever the paths hold now.'
FILE = 'src/hf_bucket_sink/core/remote_file.py'
SEARCH = '            answer = self.hub.fetch_range(entry.bucket_id, entry.path, start, end, xet_hash=entry.xet_hash)\n'
REPLACE = '            answer = self.hub.fetch_range(entry.bucket_id, entry.path, start, end, xet_hash=None)\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-drop]",
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[2-2-error]",
]
