"""Mutant cas_token_not_scoped: copyFile from another user's private bucket is refused (emulator tenancy)."""

PROMISE = "copyFile from another user's private bucket is refused (emulator tenancy)."
FILE = 'src/hf_bucket_sink/localhub/hub_routes.py'
SEARCH = '        if source is None or not state.auth.can_see(who, source):'
REPLACE = '        if source is None:'
TESTS = [
    "tests/reliability/test_hub_fuzz.py::test_cross_tenant_write_is_refused",
    "tests/localhub/test_access_control.py::test_add_file_of_a_hash_uploaded_for_another_users_bucket_is_refused"
]
