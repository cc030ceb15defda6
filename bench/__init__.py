"""Benchmarks of the vpp service (DESIGN.md section 7): ``python -m bench [--only NAME]``.

Every module of this package that defines ``BENCHMARKS`` (a list of
:class:`bench.core.Benchmark`) is discovered by the runner. A benchmark builds its own
fresh, migrated database, seeds it through the real code, repeats its measurement at
least three times, reports medians and checks its own result (row counts, status
codes) so that a broken run cannot print a good number.
"""
