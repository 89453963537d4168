"""Mutant read_stream_parse_error_untyped: A streamed CSV/NDJSON file that Polars cannot parse is an InvalidFileError naming the file, not Polars' ComputeError."""

PROMISE = "A streamed CSV/NDJSON file that Polars cannot parse is an InvalidFileError naming the file, not Polars' ComputeError."
FILE = 'src/hf_bucket_sink/polars/scans.py'
SEARCH = '    except pl.exceptions.ComputeError as exc:\n        name = "NDJSON" if fmt == "ndjson" else fmt.upper()\n'
REPLACE = '    except ZeroDivisionError as exc:\n        name = "NDJSON" if fmt == "ndjson" else fmt.upper()\n'
TESTS = [
    'tests/integration/test_read_errors.py::test_random_paths_and_options_give_a_frame_or_a_typed_error',
]
