"""Mutant spark_abort_registers: abort() registers nothing (a failed Spark job leaves the folder as it was)."""

PROMISE = 'abort() registers nothing: the files of finished tasks stay stored in Xet and invisible.'
FILE = 'src/hf_bucket_sink/engines/spark/datasource.py'
SEARCH = '        stored = sum(len(m.files) for m in messages if isinstance(m, TaskFiles))'
REPLACE = '        self.commit(messages)\n        stored = sum(len(m.files) for m in messages if isinstance(m, TaskFiles))'
TESTS = [
    "tests/spark/test_commit.py::test_abort_registers_nothing",
]
