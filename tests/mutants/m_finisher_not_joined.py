"""Mutant finisher_not_joined: aborting a session stops and joins its finisher threads."""

PROMISE = "Aborting a partitioned sink stops and joins its finisher threads: no thread is left after a failure."
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '        self._finisher.abort()\n'
REPLACE = '        pass\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_no_upload_threads_left_running_after_a_failed_sink[by-size]",
    "tests/reliability/test_client_faults.py::test_partitioned_sink_with_server_dead_mid_commit_groups_fails_typed_and_leaves_no_thread",
]
