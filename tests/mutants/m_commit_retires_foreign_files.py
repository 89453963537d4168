"""Mutant commit_retires_foreign_files: An overwrite retires only files a previous commit point listed: files under the directory that no output of ours wrote are left alone."""

PROMISE = 'An overwrite retires only files a previous commit point listed: files under the directory that no output of ours wrote are left alone.'
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '    # only what exists is still to retire (keeps the list from growing across commits)\n'
REPLACE = '    if mode == "overwrite":  # MUTANT: retire everything under the directory\n        retire.update({str(e["path"]): None for e in hub.list_tree(bucket_id, directory) if e.get("type", "file") != "directory" and str(e["path"]) not in new_paths and str(e["path"]) != location})\n    # only what exists is still to retire\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_an_overwrite_of_an_output_without_a_commit_point_leaves_its_files_and_names_them",
    "tests/integration/test_formats_partitioned.py::test_partitioned_overwrite_with_fewer_keys_leaves_exactly_the_new_output",
]
