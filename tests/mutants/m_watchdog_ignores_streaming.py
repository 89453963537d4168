"""Mutant watchdog_ignores_streaming: A stall while the query still streams fails the sink in bounded time (not only while finishing)."""

PROMISE = 'A stall while the query still streams fails the sink in bounded time (not only while finishing).'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = 'pending = self.finishing or int(report.total_transfer_bytes) > seen[1]'
REPLACE = 'pending = self.finishing'
TESTS = [
    "tests/reliability/test_client_faults.py::test_a_stall_while_the_query_streams_fails_the_sink_in_bounded_time"
]
