"""Mutant manifest_prepares_next_commit: A manifest's upload ends a write: nothing is prepared after it, so a one-off partitioned sink does not wait for a commit nobody uses."""

PROMISE = "A manifest's upload ends a write: nothing is prepared after it, so a one-off partitioned sink does not wait for a commit nobody uses."
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = 'tuning=tuning, prepare_next=False) as session:'
REPLACE = 'tuning=tuning, prepare_next=True) as session:'
TESTS = [
    "tests/integration/test_sink_loop.py::test_a_partitioned_sink_prepares_nothing_after_its_manifest"
]
