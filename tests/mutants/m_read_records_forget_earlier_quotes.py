"""Mutant read_records_forget_earlier_quotes: A streamed CSV piece ends only after a whole record: quotes in the blocks before the cut count (a quoted field may span blocks)."""

PROMISE = 'A streamed CSV piece ends only after a whole record: quotes in the blocks before the cut count (a quoted field may span blocks).'
FILE = 'src/hf_bucket_sink/polars/text_stream.py'
SEARCH = '        cut = _last_boundary(block, quote, eol, held_quotes)\n'
REPLACE = '        cut = _last_boundary(block, quote, eol, 0)\n'
TESTS = [
    'tests/integration/test_read_stream.py::test_records_cut_only_at_record_ends_for_any_blocks',
]
