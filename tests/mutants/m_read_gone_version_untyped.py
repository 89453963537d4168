"""Mutant read_gone_version_untyped: A listed version no longer in Xet storage is a typed FileVersionGoneError (a FileNotFoundError), not a generic Hub error."""

PROMISE = 'A listed version no longer in Xet storage is a typed FileVersionGoneError (a FileNotFoundError), not a generic Hub error.'
FILE = 'src/hf_bucket_sink/core/remote_file.py'
SEARCH = '    def _gone(self, entry: RemoteEntry, cause: str) -> FileVersionGoneError:\n        return FileVersionGoneError('
REPLACE = '    def _gone(self, entry: RemoteEntry, cause: str) -> FileVersionGoneError:\n        return HubResponseError(  # type: ignore[return-value]'
TESTS = [
    'tests/integration/test_read_lazy.py::test_a_version_removed_from_storage_is_a_typed_error',
]
