"""Mutant uninstall_keeps_fsspec_hook: uninstall() gives fsspec's hf protocol its previous filesystem back, also when the Polars part raises."""

PROMISE = "uninstall() restores both hooks: Polars' own methods and fsspec's previous 'hf' filesystem, even when one restore raises."
FILE = "src/hf_bucket_sink/hooks.py"
SEARCH = "        finally:\n            unregister_filesystem()"
REPLACE = "        finally:\n            pass"
TESTS = [
    "tests/unit/test_install.py::test_install_turns_on_both_hooks_and_uninstall_restores_both",
    "tests/unit/test_install.py::test_uninstall_restores_fsspec_even_when_the_polars_part_raises",
]
