"""Mutant no_morsel_bound: Polars' run-ahead is bounded (morsels sized for a memory budget) while a sink runs."""

PROMISE = "Polars' run-ahead is bounded (morsels sized for a memory budget) while a sink runs."
FILE = 'src/hf_bucket_sink/polars/sinks.py'
SEARCH = '                with bounded_streaming(schema, resize_morsels=morsel_budget_requested()):\n                    _polars_method'
REPLACE = '                if True:\n                    _polars_method'
TESTS = [
    "tests/integration/test_same_file_as_polars.py::test_polars_settings_restored_after_a_failed_sink",
    "tests/reliability/test_client_faults.py::test_bandwidth_capped_server_keeps_client_memory_bounded"
]
