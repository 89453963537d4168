"""Mutant read_prefetch_all_columns: A Parquet scan fetches only the column chunks its query needs (the prefetch of a reading unit included): one column costs about that column plus the footer."""

PROMISE = 'A Parquet scan fetches only the column chunks its query needs (the prefetch of a reading unit included): one column costs about that column plus the footer.'
FILE = 'src/hf_bucket_sink/polars/scans.py'
SEARCH = '        if chunk.path_in_schema.split(".", 1)[0] not in wanted:\n            continue\n        start = chunk.data_page_offset'
REPLACE = '        start = chunk.data_page_offset'
TESTS = [
    'tests/integration/test_scan.py::test_one_column_fetches_that_column_and_the_footer',
]
