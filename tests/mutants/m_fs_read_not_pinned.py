"""Mutant fs_read_not_pinned: A bucket file open for reading reads the version (Xet hash) it had when opened, even if the path is overwritten meanwhile."""

PROMISE = 'A bucket file open for reading reads the version (Xet hash) it had when opened, even if the path is overwritten meanwhile.'
FILE = 'src/hf_bucket_sink/engines/filesystem/files.py'
SEARCH = '        return self.transport.read(self.entry, start, end)'
REPLACE = '        fresh = self.fs.hub.paths_info(self.entry.bucket_id, [self.entry.path])[0]\n        return self.transport.read(RemoteEntry.from_listing(self.entry.bucket_id, fresh), start, end)'
TESTS = [
    'tests/integration/test_filesystem_semantics.py::test_read_is_pinned_to_the_version_opened'
]
