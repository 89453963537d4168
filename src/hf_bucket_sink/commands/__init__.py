"""Command-line sub-commands for people who do not write Python: ``cp``, ``sql``, ``ls`` and ``du``.

Each module has ``configure_parser(parser)`` (``ls`` also ``configure_du_parser``) and
``run(args) -> int``; :mod:`hf_bucket_sink.cli` wires them in and turns every
:class:`~hf_bucket_sink.BucketSinkError` into one line on stderr with exit code 1.
Shared pieces (sources, output options, ``--json``) live in :mod:`._common`.
"""

from __future__ import annotations
