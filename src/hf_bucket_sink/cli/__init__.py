"""The ``hf-bucket-sink`` command: ``main`` (dispatch and the one-line error boundary) and its sub-commands.

- ``main``       argument parsing, dispatch, the error boundary (exit codes)
- ``cp``, ``sql``, ``ls``  the data commands, sharing ``common`` (sources, output plans, progress)
- ``demo``       the demo on an embedded local Hub; ``workloads``: W1/W2 for demo, tests and benchmarks
- ``serve``      lives with the emulator: :mod:`hf_bucket_sink.localhub.cli`
"""

from hf_bucket_sink.cli.main import main

__all__ = ["main"]
