"""Mutant partition_writer_holds_whole: A PartitionWriter sends its buffer every partition_block_bytes: a partitioned sink's memory stays bounded."""

PROMISE = "A PartitionWriter sends its buffer every partition_block_bytes: a partitioned sink's memory stays bounded."
FILE = 'src/hf_bucket_sink/core/writers.py'
SEARCH = '            if len(self._buffer) >= self._block:\n                self._send()'
REPLACE = '            if False:\n                self._send()'
TESTS = [
    "tests/reliability/test_client_faults.py::test_bandwidth_capped_server_keeps_client_memory_bounded"
]
