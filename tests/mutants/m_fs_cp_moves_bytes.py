"""Mutant fs_cp_moves_bytes: cp/mv between bucket paths are server-side: the same Xet hash registered at the new path, no byte uploaded."""

PROMISE = 'cp/mv between bucket paths are server-side: the same Xet hash registered at the new path, no byte uploaded.'
FILE = 'src/hf_bucket_sink/engines/filesystem/filesystem.py'
SEARCH = '        if src is None or dst is None:\n            return super().cp_file('
REPLACE = '        if True:\n            return super().cp_file('
TESTS = [
    'tests/integration/test_filesystem_semantics.py::test_cp_and_mv_are_server_side'
]
