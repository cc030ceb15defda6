"""The production wiring of the links: the database intake and pool readings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vpp.accounts.service import create_account
from vpp.bidding.registry import load_packs
from vpp.domain.market import InstructionStatus
from vpp.grid.iec104 import setpoint_instruction
from vpp.grid.links import database_intake, database_readings
from vpp.models import Asset, GridInstruction, Site, TelemetryReading
from vpp.ports import ManualClock

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 2, 2, 7, tzinfo=UTC)


async def test_refused_instruction_becomes_rejected_answer_and_stores_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    clock = ManualClock(NOW)
    intake = database_intake(session_factory, load_packs({}), clock, "iec104")
    # An empty pool has no enrolled down capacity: 200 kW of peak cutting is refused.
    answer = await intake(setpoint_instruction(-200.0, NOW, instruction_id="iec104-test-1"))
    assert answer.status is InstructionStatus.REJECTED
    assert "capacity" in answer.reason
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(GridInstruction)) == 0


def _enrolled(session: Session, count: int) -> list[uuid.UUID]:
    """Assets of one enterprise with no enrolled flexibility (the pool's room stays 0)."""
    account = create_account(session, "Enterprise", "enterprise", actor=None)
    site = Site(account_id=account.id, name="s", connection_point="GS-1", voltage_kv=10.0)
    session.add(site)
    session.flush()
    assets = [
        Asset(
            account_id=account.id,
            site_id=site.id,
            name=f"a{i}",
            kind="battery",
            params={},
            baseline_kw=0.0,
            up_kw=0.0,
            down_kw=0.0,
        )
        for i in range(count)
    ]
    session.add_all(assets)
    session.flush()
    return [asset.id for asset in assets]


async def test_readings_sum_fresh_telemetry_only(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        a, b, stale = _enrolled(session, 3)
        session.add_all(
            [
                TelemetryReading(
                    asset_id=a, ts=datetime(2026, 3, 2, 2, 5, tzinfo=UTC), power_kw=1.0
                ),
                TelemetryReading(
                    asset_id=a, ts=datetime(2026, 3, 2, 2, 6, tzinfo=UTC), power_kw=40.0
                ),
                TelemetryReading(
                    asset_id=b, ts=datetime(2026, 3, 2, 2, 6, tzinfo=UTC), power_kw=-15.5
                ),
                # Eight minutes old: beyond the five-minute freshness window.
                TelemetryReading(
                    asset_id=stale, ts=datetime(2026, 3, 2, 1, 59, tzinfo=UTC), power_kw=999.0
                ),
            ]
        )
        session.commit()
    readings = await database_readings(session_factory, ManualClock(NOW))()
    assert (readings.measured_kw, readings.assets_reporting, readings.online) == (24.5, 2, True)
    assert (readings.up_kw, readings.down_kw, readings.dispatching) == (0.0, 0.0, False)
