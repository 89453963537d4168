"""Mutant finish_released_counts_only: Partitions Polars dropped are finished and stored while the query goes on."""

PROMISE = (
    "Partitions Polars dropped are finished while the query goes on, and each full hf_xet commit of them is stored "
    "then (the server has their shard before the query ends; hf_xet frees their per-file state)."
)
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '            if not self._closed:\n                self._finisher.put(writer)\n                done += 1'
REPLACE = '            if not self._closed:\n                done += 1'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_partitions_polars_released_are_stored_while_the_query_runs"
]
