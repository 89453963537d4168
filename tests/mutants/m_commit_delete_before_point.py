"""Mutant commit_delete_before_point: Nothing of the previous output is deleted before the commit point: a failed overwrite leaves every file of the committed version listed."""

PROMISE = 'Nothing of the previous output is deleted before the commit point: a failed overwrite leaves every file of the committed version listed.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    # 1. data lines (nothing deleted yet)\n'
REPLACE = '    if start_manifest is not None and mode == "overwrite":  # MUTANT: retire first\n        _register_all(hub, bucket_id, [Deletion(f.path) for f in start_manifest.files if f.path not in ours], [], counter)\n    # 1. data lines\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_fault_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-error]",
    "tests/integration/test_commit_protocol.py::test_a_partitioned_parquet_sink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_output_whole[1-0-drop]",
    "tests/integration/test_commit_protocol.py::test_a_ray_datasink_faulted_at_every_batch_boundary_leaves_the_old_or_the_new_dataset_whole[1-0-report]",
]
