"""Mutant batches_out_of_path_order: Files are registered in path order, batch after batch, the manifest last."""

PROMISE = 'Files are registered in path order, batch after batch, the manifest last.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    files = sorted(files, key=lambda f: f.path)\n'
REPLACE = '    files = sorted(files, key=lambda f: f.path, reverse=True)\n'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_more_than_a_batch_of_files_registers_in_order_and_commits_with_the_manifest_last",
]
