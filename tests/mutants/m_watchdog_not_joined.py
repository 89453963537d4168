"""Mutant watchdog_not_joined: The stall watchdog thread is stopped and joined when the session ends: no thread is left."""

PROMISE = 'The stall watchdog thread is stopped and joined when the session ends: no thread is left.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '        if self._thread is not None and self._thread is not threading.current_thread():\n            self._thread.join()'
REPLACE = '        if self._thread is not None and self._thread is not threading.current_thread():\n            pass'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_no_upload_threads_left_running_after_a_failed_sink"
]
