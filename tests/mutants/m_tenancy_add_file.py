"""Mutant tenancy_add_file: The local Hub refuses addFile of a Xet hash uploaded for another bucket (another user's private one included)."""

PROMISE = "The local Hub refuses addFile of a Xet hash uploaded for another bucket (another user's private one included)."
FILE = 'src/hf_bucket_sink/localhub/hub_routes.py'
SEARCH = '        if not state.catalog.may_use_file(bucket.id, xet_hash):'
REPLACE = '        if False:'
TESTS = [
    "tests/localhub/test_access_control.py::test_add_file_of_a_hash_uploaded_for_another_users_bucket_is_refused"
]
