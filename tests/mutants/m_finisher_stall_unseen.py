"""Mutant finisher_stall_unseen: a server that dies while partition files are being finished fails the sink in bounded time."""

PROMISE = (
    "A server that dies while partition files are being finished (hf_xet waiting for a round trip that moves no byte "
    "counter) is a stall: the sink fails with the typed stall error in bounded time."
)
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '        if finisher.pending():\n'
REPLACE = '        if False:\n'
TESTS = [
    "tests/reliability/test_client_faults.py::test_partitioned_sink_with_server_dead_mid_commit_groups_fails_typed_and_leaves_no_thread"
]
