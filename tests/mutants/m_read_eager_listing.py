"""Mutant read_eager_listing: Scans are lazy: nothing is listed or fetched when scan_* is called, only when the query runs (explain() works with the Hub down given a schema)."""

PROMISE = 'Scans are lazy: nothing is listed or fetched when scan_* is called, only when the query runs (explain() works with the Hub down given a schema).'
FILE = 'src/hf_bucket_sink/polars/scans.py'
SEARCH = '    lazy = _LazyScan(source, fmt, storage_options, options)\n    _typed_planning_errors()'
REPLACE = '    lazy = _LazyScan(source, fmt, storage_options, options)\n    lazy.schema()  # eager: list and read footers now\n    _typed_planning_errors()'
TESTS = [
    'tests/integration/test_read_lazy.py::test_a_scan_built_before_its_file_exists_reads_it_when_collected',
    'tests/integration/test_read_lazy.py::test_explain_with_the_hub_down_when_the_schema_is_given',
]
