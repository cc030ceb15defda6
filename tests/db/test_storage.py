"""The storage layer on both databases: bulk telemetry, UTC times, the append-only audit log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from vpp.kit.audit import audit
from vpp.kit.db import make_sessionmaker
from vpp.models import Account, AuditEntry, TelemetryReading
from vpp.telemetry.repository import _key_order, insert_readings, read_range

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def rows(asset: uuid.UUID, n: int, start: datetime = T0) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (asset, start + timedelta(seconds=15 * i), float(i), None, None, None, "good")
        for i in range(n)
    ]


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(TelemetryReading)).scalar_one())


def test_bulk_insert_stores_every_reading(session: Session) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert insert_readings(session, rows(a, 3000) + rows(b, 2000)) == 5000
    assert count(session) == 5000
    got = read_range(session, a, T0, T0 + timedelta(minutes=1), 100)
    assert [r.power_kw for r in got] == [0.0, 1.0, 2.0, 3.0]
    assert all(r.ts.tzinfo is not None and r.quality == "good" for r in got)


def test_bulk_insert_skips_stored_duplicates_and_keeps_the_first(session: Session) -> None:
    a = uuid.uuid4()
    insert_readings(session, rows(a, 10))
    changed = [(r[0], r[1], 99.0, *r[3:]) for r in rows(a, 15)]
    assert insert_readings(session, changed) == 5
    assert count(session) == 15
    first = read_range(session, a, T0, T0 + timedelta(seconds=1), 1)[0]
    assert first.power_kw == 0.0
    # The transaction is still usable after the fast path fell back.
    assert insert_readings(session, rows(a, 1, T0 + timedelta(days=1))) == 1


def test_a_batch_interleaving_assets_keeps_each_assets_first_reading(session: Session) -> None:
    """Readings arrive time step by time step for many assets, repeats included."""
    assets = [uuid.uuid4() for _ in range(5)]
    batch = [
        (asset, T0 + timedelta(minutes=15 * step), float(10 * step + k), None, None, None, "good")
        for step in range(4)
        for k, asset in enumerate(assets)
    ]
    repeat = (assets[2], T0, -1.0, None, None, None, "good")  # same key as an earlier row
    assert insert_readings(session, [*batch, repeat]) == len(batch)
    for k, asset in enumerate(assets):
        got = read_range(session, asset, T0, T0 + timedelta(days=1), 10)
        assert [r.power_kw for r in got] == [float(10 * step + k) for step in range(4)]


def test_the_bulk_paths_grouping_follows_the_databases_key_order(session: Session) -> None:
    """The COPY groups a batch in `_key_order`, meant to be the primary key's own order."""
    batch = [(uuid.uuid4(), T0, 1.0, None, None, None, "good") for _ in range(50)]
    insert_readings(session, batch)
    stored = session.execute(select(TelemetryReading.asset_id).order_by(TelemetryReading.asset_id))
    assert list(stored.scalars()) == [row[0] for row in sorted(batch, key=_key_order)]


def test_times_round_trip_as_aware_utc(session: Session) -> None:
    a = uuid.uuid4()
    beijing = timezone(timedelta(hours=8))
    local = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=beijing)
    awkward = "fault\tcode\\7\nreset"  # tab, backslash, newline
    insert_readings(
        session,
        [(a, local, 5.0, 0.5, 12.5, awkward, "estimated"), (a, T0, 1e-7, None, None, None, "good")],
    )
    tiny, stored = read_range(session, a, T0 - timedelta(days=1), T0 + timedelta(days=1), 10)
    assert stored.ts == local
    assert stored.ts.utcoffset() == timedelta(0)
    assert (tiny.power_kw, tiny.soc, tiny.status) == (1e-7, None, None)
    assert (stored.soc, stored.energy_kwh, stored.status, stored.quality) == (
        0.5,
        12.5,
        awkward,
        "estimated",
    )


def test_audit_log_is_append_only(session: Session) -> None:
    audit(session, None, "test.write", "thing", "1", {"n": 1})
    session.commit()
    entry_id = session.execute(select(func.max(AuditEntry.id))).scalar_one()
    for statement in (
        update(AuditEntry).where(AuditEntry.id == entry_id).values(action="forged"),
        delete(AuditEntry).where(AuditEntry.id == entry_id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)
    assert (
        session.execute(select(AuditEntry.action).where(AuditEntry.id == entry_id)).scalar_one()
        == "test.write"
    )


def test_account_kind_is_checked_by_the_database(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    session.add(Account(name="x", kind="superuser"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_bulk_insert_as_first_statement_is_undone_by_rollback(engine: Engine) -> None:
    """The fast path must join the caller's transaction, never commit on its own."""
    asset = uuid.uuid4()
    with make_sessionmaker(engine)() as fresh:
        assert insert_readings(fresh, rows(asset, 100)) == 100
        fresh.rollback()
    with make_sessionmaker(engine)() as check:
        stored = check.execute(
            select(func.count()).where(TelemetryReading.asset_id == asset)
        ).scalar_one()
    assert stored == 0
