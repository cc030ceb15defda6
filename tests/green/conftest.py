"""A simulated park month for the green-power tests: sites, assets, telemetry, plans."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller
from vpp.models import Asset, PlannedSetpointRow, Site
from vpp.telemetry.repository import insert_readings

NOV = date(2026, 11, 1)
MONTH_START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 2026-11-01 00:00 Beijing time
INTERVALS = 30 * 96
PV_HOURS = range(10, 16)  # Beijing time


def gec(n: int, prefix: str = "A") -> str:
    """A well-formed 32-character GEC id: 17 project characters + 15 energy information."""
    return f"{prefix * 17}202611{n:09d}"


@dataclass
class ParkSite:
    site_id: uuid.UUID
    assets: dict[str, uuid.UUID]


def add_site(factory: sessionmaker[Session], caller: Caller, assets: dict[str, str]) -> ParkSite:
    """A site of the caller with assets named -> kind (parameters are not used here)."""
    with factory() as session:
        site = Site(
            account_id=caller.account_id, name="Plant", connection_point="GS-ZY-9", voltage_kv=35.0
        )
        session.add(site)
        session.flush()
        ids: dict[str, uuid.UUID] = {}
        for name, kind in assets.items():
            asset = Asset(
                account_id=caller.account_id,
                site_id=site.id,
                name=name,
                kind=kind,
                params={},
                baseline_kw=0.0,
                up_kw=0.0,
                down_kw=0.0,
            )
            session.add(asset)
            session.flush()
            ids[name] = asset.id
        session.commit()
        return ParkSite(site.id, ids)


def local_hours(count: int = INTERVALS) -> np.ndarray:
    """Beijing-time hour of each 15-minute interval of the month."""
    return (np.arange(count) // 4) % 24


def push_telemetry(
    factory: sessionmaker[Session], asset_id: uuid.UUID, power_kw: Callable[[int], float]
) -> None:
    """One reading per interval (at its start) for the whole month."""
    rows = [
        (
            asset_id,
            MONTH_START + timedelta(minutes=15 * k),
            float(power_kw(k)),
            None,
            None,
            None,
            "good",
        )
        for k in range(INTERVALS)
    ]
    with factory() as session:
        insert_readings(session, rows)
        session.commit()


def add_plan(
    factory: sessionmaker[Session],
    caller: Caller,
    asset_id: uuid.UUID,
    day: date,
    intervals: range,
    baseline_kw: float,
    deviation_kw: float,
) -> None:
    with factory() as session:
        session.add_all(
            PlannedSetpointRow(
                day=day,
                asset_id=asset_id,
                interval=k,
                account_id=caller.account_id,
                baseline_kw=baseline_kw,
                deviation_kw=deviation_kw,
                setpoint_kw=baseline_kw + deviation_kw,
            )
            for k in intervals
        )
        session.commit()
