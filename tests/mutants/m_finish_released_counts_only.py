"""Mutant finish_released_counts_only: Partitions Polars dropped are finished while the query goes on (hf_xet frees their per-stream memory)."""

PROMISE = 'Partitions Polars dropped are finished while the query goes on (hf_xet frees their per-stream memory).'
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '            if not self._closed:\n                writer.finish()\n                done += 1'
REPLACE = '            if not self._closed:\n                done += 1'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_failing_query_during_partitioned_sink_registers_nothing"
]
