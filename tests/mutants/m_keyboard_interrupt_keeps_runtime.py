"""Mutant keyboard_interrupt_keeps_runtime: Ctrl-C mid-upload registers nothing and tears hf_xet's runtime down."""

PROMISE = "Ctrl-C mid-upload registers nothing and tears hf_xet's runtime down."
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '            self.abort()\n            if exc_type is KeyboardInterrupt:'
REPLACE = '            if exc_type is KeyboardInterrupt:'
TESTS = [
    "tests/integration/test_sink_parquet.py::test_keyboard_interrupt_mid_upload_registers_nothing",
    "tests/reliability/test_client_faults.py::test_keyboard_interrupt_while_blocked_on_a_slow_link"
]
