"""Mutant sink_result_hides_untracked: a sink's result names the files an overwrite found and left alone."""

PROMISE = "A directory overwrite's SinkResult names the files under it that no commit point listed (left in place)."
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '        untracked=report.untracked, superseded_by=report.superseded_by, unlisted=report.unlisted,'
REPLACE = '        superseded_by=report.superseded_by, unlisted=report.unlisted,'
TESTS = [
    "tests/integration/test_formats_partitioned.py::test_an_overwrite_of_a_directory_without_a_commit_point_names_what_it_left"
]
