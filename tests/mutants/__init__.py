"""Mutation check (issue 21): each file ``m_*.py`` here breaks one promise; its named tests must catch it.

Run ``python -m tests.mutants [name ...] [-j 2] [--report docs/mutation-report.md]`` from the
repository root (see CONTRIBUTING.md). Not part of the pytest run: the files are not ``test_*``.
"""

__all__: list[str] = []
