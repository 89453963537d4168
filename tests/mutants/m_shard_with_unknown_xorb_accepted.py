"""Mutant shard_with_unknown_xorb_accepted: The emulator refuses a shard that references xorbs it does not hold (no file without bytes)."""

PROMISE = 'The emulator refuses a shard that references xorbs it does not hold (no file without bytes).'
FILE = 'src/hf_bucket_sink/localhub/shard.py'
SEARCH = '            if hashes is None or sizes is None:\n                raise UnknownXorbError(f"{where}: xorb is not stored", term.xorb_hash)'
REPLACE = '            if False:\n                raise UnknownXorbError(f"{where}: xorb is not stored", term.xorb_hash)'
TESTS = [
    "tests/localhub/test_integrity.py::test_shard_with_unknown_xorb_is_rejected"
]
