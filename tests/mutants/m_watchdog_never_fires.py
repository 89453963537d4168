"""Mutant watchdog_never_fires: A dead server fails the sink in bounded time with an UploadError, registering nothing."""

PROMISE = 'A dead server fails the sink in bounded time with an UploadError, registering nothing.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '            if now - last >= timeout:'
REPLACE = '            if False:'
TESTS = [
    "tests/reliability/test_client_faults.py::test_dead_server_mid_upload_fails_in_bounded_time"
]
