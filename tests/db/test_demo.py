"""The demo park seeds once, with valid assets and their telemetry history."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpp.demo import PARK, ensure_staff_keys, seed_park
from vpp.models import Account, Asset, TelemetryReading


def test_park_seeds_once_with_history(session: Session) -> None:
    enterprises = seed_park(session, history_days=1)
    assert len(enterprises) == len(PARK) >= 10
    assets = session.execute(select(Asset)).scalars().all()
    assert len(assets) == sum(len(e.assets) for e in PARK)
    assert {a.kind for a in assets} == {
        "battery",
        "curtailable_load",
        "shiftable_process",
        "ev_fleet",
        "pv",
    }
    readings = session.execute(select(func.count()).select_from(TelemetryReading)).scalar_one()
    assert readings == 96 * len(assets)
    pv_power = session.execute(
        select(func.min(TelemetryReading.power_kw))
        .join(Asset, Asset.id == TelemetryReading.asset_id)
        .where(Asset.kind == "pv")
    ).scalar_one()
    assert pv_power < 0  # generation is negative net load

    assert seed_park(session) == enterprises
    tokens = ensure_staff_keys(session)
    assert set(tokens) == {"operator", "admin", "grid", "enterprise"}
    kinds = session.execute(select(Account.kind, func.count()).group_by(Account.kind)).all()
    assert dict(kinds) == {"enterprise": len(PARK), "operator": 1, "admin": 1, "grid": 1}
