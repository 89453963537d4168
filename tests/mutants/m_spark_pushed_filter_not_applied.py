"""Mutant spark_pushed_filter_not_applied: a filter the reader takes from Spark is applied exactly."""

PROMISE = 'A filter pushFilters() takes (Spark does not evaluate it again) is applied to every row read, not only to row-group pruning.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '                    table = table.filter(row_filter)'
REPLACE = '                    pass'
TESTS = [
    "tests/spark/test_reader.py::test_a_filter_on_a_file_column_prunes_row_groups_and_keeps_exactly_the_matching_rows",
]
