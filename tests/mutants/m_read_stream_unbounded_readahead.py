"""Mutant read_stream_unbounded_readahead: A streamed CSV / NDJSON read holds a bounded window of the file, not whatever the download got ahead of the parse."""

PROMISE = 'A streamed CSV / NDJSON read holds a bounded window of the file, not whatever the download got ahead of the parse.'
FILE = 'src/hf_bucket_sink/core/remote_file.py'
SEARCH = '        window = window or STREAM_WINDOW\n        if entry.size == 0:\n            return\n'
REPLACE = '        yield from XetRanges(transport.hub)._stream(entry, None, None)  # hf_xet reads ahead as fast as it can\n        return\n'
TESTS = [
    'tests/integration/test_read_stream.py::test_a_streamed_read_fetches_at_most_one_window_ahead_of_the_parser',
]
