"""Mutant manifest_in_first_batch: The manifest is registered alone, after every file it lists."""

PROMISE = 'The manifest is registered alone, after every file it lists.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '            applied, failed = _send(hub, bucket_id, [manifest_record.registration(mtime)])\n'
REPLACE = '            applied, failed = _send(hub, bucket_id, [f.registration(mtime) for f in files[-3:]] + [manifest_record.registration(mtime)])\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_more_than_a_batch_of_files_registers_in_order_and_commits_with_the_manifest_last",
]
