"""Mutant batches_out_of_path_order: Files are registered in path order, batch after batch, the manifest last."""

PROMISE = 'Files are registered in path order, batch after batch, the manifest last.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = 'sorted(files, key=lambda f: f.path)]'
REPLACE = 'sorted(files, key=lambda f: f.path, reverse=True)]'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_more_than_a_batch_of_files_registers_in_order_and_writes_the_manifest_last"
]
