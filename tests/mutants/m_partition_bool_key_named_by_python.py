"""Mutant partition_bool_key_named_by_python: A bucket partition file has the name Polars' own partitioned sink gives it locally."""

PROMISE = "A bucket partition file has the name Polars' own partitioned sink gives it locally (hive values formatted as Polars formats them)."
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = '            text = tuple(("true" if v else "false") if type(v) is bool else None if v is None else str(v) for v in raw)'
REPLACE = '            text = tuple(None if v is None else str(v) for v in raw)'
TESTS = [
    "tests/unit/test_partition_names.py::test_partition_paths_are_the_names_polars_writes_locally",
]
