"""Mutant resink_uploads_again: Re-sinking identical data sends (almost) no bytes: dedup sends no chunk twice."""

PROMISE = 'Re-sinking identical data sends (almost) no bytes: dedup sends no chunk twice.'
FILE = 'src/hf_bucket_sink/core/xet.py'
SEARCH = '    return (os.getpid(), os.environ.get("HF_XET_CACHE"), os.environ.get("HF_HOME"), _xet_env())'
REPLACE = '    return (os.getpid(), os.environ.get("HF_XET_CACHE"), os.environ.get("HF_HOME"), _xet_env(), object())'
TESTS = [
    "tests/integration/test_sink_parquet.py::test_identical_resink_uploads_almost_nothing",
    "tests/integration/test_dedup.py::test_identical_resink_uploads_under_one_percent"
]
