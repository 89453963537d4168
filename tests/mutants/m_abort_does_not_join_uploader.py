"""Mutant abort_does_not_join_uploader: Aborting a sink joins its uploader thread: no thread is left after a failure."""

PROMISE = 'Aborting a sink joins its uploader thread: no thread is left after a failure.'
FILE = 'src/hf_bucket_sink/core/writers.py'
SEARCH = '        self._thread.join(timeout=30)\n        if self._thread.is_alive():'
REPLACE = '        if self._thread.is_alive():'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_no_upload_threads_left_running_after_a_failed_sink"
]
