"""Mutant read_csv_temp_copy: CSV / NDJSON (plain, gzip, zstd) are streamed piece by piece: no temporary copy of the file, memory independent of its size."""

PROMISE = 'CSV / NDJSON (plain, gzip, zstd) are streamed piece by piece: no temporary copy of the file, memory independent of its size.'
FILE = 'src/hf_bucket_sink/polars/text_stream.py'
SEARCH = '    allowed = CSV_STREAM_OPTIONS if fmt == "csv" else NDJSON_STREAM_OPTIONS\n    if any('
REPLACE = '    allowed = CSV_STREAM_OPTIONS if fmt == "csv" else NDJSON_STREAM_OPTIONS\n    return False\n    if any('
TESTS = [
    'tests/integration/test_read_stream.py::test_streamed_pieces_give_polars_frame[csv-plain]',
    'tests/integration/test_read_stream.py::test_streamed_pieces_give_polars_frame[ndjson-zst]',
]
