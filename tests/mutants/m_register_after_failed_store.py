"""Mutant register_after_failed_store: Nothing is registered when storing in Xet failed."""

PROMISE = 'Nothing is registered when storing in Xet failed.'
FILE = 'src/hf_bucket_sink/core/upload.py'
SEARCH = '        except Exception as exc:\n            raise UploadError(\n                f"Storing the data of'
REPLACE = '        except Exception as exc:\n            report = None\n        if False:\n            raise UploadError(\n                f"Storing the data of'
TESTS = [
    "tests/reliability/test_thread_cleanup.py::test_a_refused_shard_fails_the_store_and_registers_nothing",
    "tests/reliability/test_client_faults.py::test_dead_server_mid_upload_fails_in_bounded_time"
]
