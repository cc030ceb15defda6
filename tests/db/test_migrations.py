"""Migrations: empty -> head -> base -> head, and the models match the migrated schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from tests.conftest import create_pg_database, postgres_url
from vpp.kit import migrate
from vpp.kit.db import create_db_engine
from vpp.models import Base, CommandEvent, SetpointCommandRow


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


def test_0015_drops_stored_creation_events_and_the_downgrade_restores_them(
    empty_url: str,
) -> None:
    """A command's creation is its row (`vpp.dispatch.repository.history_of`): the stored
    creation events go, every other event stays; downgrading writes them back."""
    migrate.upgrade(empty_url, "0014")
    engine = create_db_engine(empty_url)
    command_id = uuid.uuid4()
    created = datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(SetpointCommandRow),
                {
                    "id": command_id, "asset_id": uuid.uuid4(), "account_id": uuid.uuid4(),
                    "adapter": "simulated", "interval_start": created, "power_kw": 5.0,
                    "state": "sent", "attempts": 1, "source": "plan", "detail": "",
                    "created_at": created, "expires_at": created, "next_attempt_at": created,
                },
            )  # fmt: skip
            conn.execute(
                insert(CommandEvent),
                [
                    {"command_id": command_id, "at": created, "state": "pending",
                     "attempt": 0, "detail": "created (plan)"},
                    {"command_id": command_id, "at": created, "state": "sent",
                     "attempt": 1, "detail": "sent"},
                ],
            )  # fmt: skip

        def events() -> list[tuple[str, str]]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(CommandEvent.state, CommandEvent.detail).order_by(CommandEvent.id)
                )
                return [(state, detail) for state, detail in rows]

        migrate.upgrade(empty_url, "0015")
        assert events() == [("sent", "sent")]
        migrate.downgrade(empty_url, "0014")
        assert sorted(events()) == [("pending", "created (plan)"), ("sent", "sent")]
    finally:
        engine.dispose()
