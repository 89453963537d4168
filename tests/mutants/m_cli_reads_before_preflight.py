"""Mutant cli_reads_before_preflight: cp and sql prove the token before any source (stdin too) is read."""

PROMISE = (
    "hf-bucket-sink cp / sql check DEST, then the token and bucket (preflight), and only then open the sources: "
    "a missing token costs nothing, not even stdin."
)
FILE = "src/hf_bucket_sink/cli/common.py"
SEARCH = (
    "    preflight(plan.bucket_id, options)\n"
    "    with quiet_progress(args), ExitStack() as stack:\n"
    "        lf = query(stack, options)\n"
)
REPLACE = (
    "    with quiet_progress(args), ExitStack() as stack:\n"
    "        lf = query(stack, options)\n"
    "        preflight(plan.bucket_id, options)\n"
)
TESTS = [
    "tests/integration/test_cli_preflight.py::test_no_token_fails_before_stdin_is_read",
]
