"""Mutant prepare_thread_outlives_sink: The thread that prepares the next commit is joined before the sink returns: no thread of ours outlives a sink."""

PROMISE = 'The thread that prepares the next commit is joined before the sink returns: no thread of ours outlives a sink.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '            mine.thread.join()  # the build'
REPLACE = '            pass  # the build'
TESTS = [
    "tests/integration/test_sink_loop.py::test_a_sink_returns_after_a_slow_prepare_thread_ended",
    "tests/integration/test_sink_loop.py::test_a_loop_uses_the_prepared_commits_and_deduplicates",
]
