"""Mutant manifest_in_first_batch: The manifest is registered alone, after every file it lists."""

PROMISE = 'The manifest is registered alone, after every file it lists.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    lines: list[Any] = [Deletion(p) for p in delete_first]\n'
REPLACE = '    lines: list[Any] = [Deletion(p) for p in delete_first]\n    if manifest is not None:\n        lines.append(manifest.registration(mtime))\n        manifest = None\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_more_than_a_batch_of_files_registers_in_order_and_writes_the_manifest_last"
]
