"""Mutant abort_does_not_join_uploader: Aborting a sink joins its uploader thread: no thread is left after a failure."""

PROMISE = 'Aborting a sink joins its uploader thread: no thread is left after a failure.'
FILE = 'src/hf_bucket_sink/core/writers.py'
SEARCH = '        thread.join(timeout=30)\n        if thread.is_alive():  # pragma: no cover'
REPLACE = '        if thread.is_alive():  # pragma: no cover'
TESTS = [
    "tests/reliability/test_thread_cleanup.py::test_a_failed_sink_joins_an_uploader_blocked_on_a_slow_link",
    "tests/integration/test_formats_partitioned.py::test_no_upload_threads_left_running_after_a_failed_sink"
]
