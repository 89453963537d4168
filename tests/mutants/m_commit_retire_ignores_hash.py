"""Mutant commit_retire_ignores_hash: A retirement deletes a path only while it holds the bytes the retired output listed: never another writer's file."""

PROMISE = "A retirement deletes a path only while it holds the bytes the retired output listed: never another writer's file."
FILE = 'src/hf_bucket_sink/core/commit.py'
SEARCH = '            targets = [p for p, h in chunk.items() if p in now and (h is None or now[p] == h)]\n'
REPLACE = '            targets = [p for p in chunk if p in now]\n'
TESTS = [
    "tests/integration/test_commit_protocol.py::test_a_retirement_leaves_a_path_someone_rewrote_since",
]
