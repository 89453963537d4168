"""Mutant spark_overwrite_clears_first: overwrite retires the previous output only after the commit point."""

PROMISE = 'overwrite retires the previous output only after the commit point: a commit that fails before it leaves the old output whole.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '        started = time.perf_counter()\n        self.report = commit_output('
REPLACE = (
    '        started = time.perf_counter()\n'
    '        if self.opts.if_exists == "overwrite" and self.previous:\n'
    '            from hf_bucket_sink.core.commit import Deletion\n'
    '            hub.batch(self.opts.base.bucket_id, [Deletion(p) for p in sorted(self.previous.paths)])\n'
    '        self.report = commit_output('
)
TESTS = [
    "tests/spark/test_datasource.py::test_a_driver_commit_failing_at_each_batch_boundary_leaves_one_output_whole",
]
