"""Mutant read_drift_ignored: Schema drift across Parquet files gets Polars' own answer (a missing column raises ColumnNotFoundError as on local files), not silently filled nulls."""

PROMISE = "Schema drift across Parquet files gets Polars' own answer (a missing column raises ColumnNotFoundError as on local files), not silently filled nulls."
FILE = 'src/hf_bucket_sink/polars/scans.py'
SEARCH = '    def __call__(self, fragment: Any) -> None:\n        if self._first is None:'
REPLACE = '    def __call__(self, fragment: Any) -> None:\n        return\n        if self._first is None:'
TESTS = [
    'tests/integration/test_read_parity.py::test_same_answer_as_polars_on_local_copies[missing-default]',
    'tests/integration/test_read_parity.py::test_same_answer_as_polars_on_local_copies[extra-default]',
]
