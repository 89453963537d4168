"""Mutant importlib_upward_reference: a layer naming a higher layer's module in an importlib string is caught."""

PROMISE = (
    "Imports point down the layers, dynamic ones too: importlib.import_module('hf_bucket_sink.<higher layer>') "
    "from a lower layer fails tests/unit/test_architecture.py (round 2's install() did this from polars/ to engines/)."
)
FILE = "src/hf_bucket_sink/polars/install.py"
SEARCH = "        _install_readers()\n"
REPLACE = (
    "        _install_readers()\n"
    "        import importlib\n\n"
    "        importlib.import_module(\"hf_bucket_sink.engines.filesystem\").register_filesystem()\n"
)
TESTS = [
    "tests/unit/test_architecture.py::test_imports_point_down_the_layers",
]
