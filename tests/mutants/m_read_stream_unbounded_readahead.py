"""Mutant read_stream_unbounded_readahead: A streamed CSV / NDJSON read stays one window ahead of the parser, not as far ahead as the network allows."""

PROMISE = 'A streamed CSV / NDJSON read stays one window ahead of the parser, not as far ahead as the network allows.'
FILE = 'src/hf_bucket_sink/core/remote_file.py'
SEARCH = '    window = window or STREAM_WINDOW\n    if entry.size == 0:\n        return\n'
REPLACE = '    yield from XetRanges(transport.hub)._stream(entry, None, None)  # type: ignore[attr-defined]  # hf_xet reads ahead freely\n    return\n'
TESTS = [
    'tests/integration/test_read_stream.py::test_a_streamed_read_fetches_at_most_one_window_ahead_of_the_parser',
]
