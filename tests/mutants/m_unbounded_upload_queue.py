"""Mutant unbounded_upload_queue: BucketWriter's queue is bounded: a slow link slows the query instead of filling memory."""

PROMISE = "BucketWriter's queue is bounded: a slow link slows the query instead of filling memory."
FILE = 'src/hf_bucket_sink/core/writers.py'
SEARCH = 'queue.Queue(maxsize=tuning.queue_blocks)'
REPLACE = 'queue.Queue(maxsize=0)'
TESTS = [
    "tests/reliability/test_client_faults.py::test_bandwidth_capped_server_keeps_client_memory_bounded"
]
