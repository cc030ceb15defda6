"""Migrations: empty -> head -> base -> head, and the models match the migrated schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import create_pg_database, postgres_url
from vpp.kit import migrate
from vpp.kit.db import create_db_engine
from vpp.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url, drop = create_pg_database(postgres_url(), "vpp_migrations")
    try:
        yield url
    finally:
        drop()


def schema_diff(url: str) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_matches_the_models(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert schema_diff(empty_url) == []
    assert set(Base.metadata.tables) <= tables(empty_url)

    migrate.downgrade(empty_url, "base")
    assert tables(empty_url) <= {"alembic_version"}

    migrate.upgrade(empty_url)
    assert schema_diff(empty_url) == []
