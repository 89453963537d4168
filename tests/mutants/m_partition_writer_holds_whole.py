"""Mutant partition_writer_holds_whole: A PartitionWriter sends its buffer every partition_block_bytes: a partitioned sink's memory stays bounded."""

PROMISE = "A PartitionWriter sends its buffer every partition_block_bytes: a partitioned sink's peak memory does not grow with the output."
FILE = 'src/hf_bucket_sink/core/writers.py'
SEARCH = '            if len(self._buffer) >= self._block:\n                self._send()'
REPLACE = '            if False:\n                self._send()'
TESTS = [
    "tests/reliability/test_client_faults.py::test_partitioned_sink_memory_stays_bounded_with_wide_rows"
]
