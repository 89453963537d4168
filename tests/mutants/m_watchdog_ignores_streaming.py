"""Mutant watchdog_ignores_streaming: A stall while the query still streams fails the sink in bounded time (not only while finishing)."""

PROMISE = 'A stall while the query still streams fails the sink in bounded time (not only while finishing).'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = 'pending = self.finishing or int(report.total_transfer_bytes) > seen[1]'
REPLACE = 'pending = self.finishing'
TESTS = [
    "tests/reliability/test_client_faults.py::test_dead_server_mid_upload_fails_in_bounded_time"
]
