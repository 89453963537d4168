"""Mutant read_planning_error_wrapped: A bucket read failure found while Polars plans (missing file, missing bucket, bad token) arrives at collect() as its own typed class, not Polars' ComputeError."""

PROMISE = "A bucket read failure found while Polars plans (missing file, missing bucket, bad token) arrives at collect() as its own typed class, not Polars' ComputeError."
FILE = 'src/hf_bucket_sink/polars/scans.py'
SEARCH = '    with _planning_lock:\n        for owner, names in ((pl.LazyFrame, _PLANNING_METHODS), (pl, ("collect_all",))):'
REPLACE = '    return\n    with _planning_lock:\n        for owner, names in ((pl.LazyFrame, _PLANNING_METHODS), (pl, ("collect_all",))):'
TESTS = [
    'tests/integration/test_read_errors.py::test_planning_failures_arrive_as_their_own_class',
]
