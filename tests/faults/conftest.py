"""Fixtures of the fault tests: a migrated PostgreSQL database of their own and a
scratch directory for the processes they start and kill."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import migrated_pg_database


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database migrated to head, dropped afterwards (outside the per-test
    transaction: the processes under test commit and crash)."""
    with migrated_pg_database("vpp_faults") as url:
        yield url


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A short temporary path (socket and log files of the started processes)."""
    path = Path(tempfile.mkdtemp(prefix="vpp-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
