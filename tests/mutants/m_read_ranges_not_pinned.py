"""Mutant read_ranges_not_pinned: Ranged reads are pinned to the listed Xet hash: after an overwrite a scan still reads the listed version whole."""

PROMISE = 'Ranged reads are pinned to the listed Xet hash: after an overwrite a scan still reads the listed version whole.'
FILE = 'src/hf_bucket_sink/core/hub.py'
SEARCH = '            if xet_hash not in served or any(h is not None and h != xet_hash for h in served):'
REPLACE = '            if False:'
TESTS = [
    'tests/integration/test_read_lazy.py::test_ranged_reads_keep_the_listed_version_whole_after_an_overwrite',
]
