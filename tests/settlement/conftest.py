"""A settled-day scenario in the database: two enterprises, three assets, a peak-cut award.

The numbers are the hand-computed case of `tests.settlement.helpers`: flat histories of
800 and 500 kW (Enterprise A) and 600 kW (Enterprise B), a 1,000 kW award at 400 CNY/MWh in
intervals 72-76 of 2026-03-11, allocations A 400 + 200 kW, B 400 kW.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller
from tests.settlement.helpers import DAY, EVENT, hand_day
from vpp.app import create_app
from vpp.config import Settings
from vpp.domain.time import interval_starts_utc
from vpp.models import Asset, AwardRow, BidAllocation, BidRow, Site, TelemetryReading
from vpp.ports import ManualClock

NOW = datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
"""08:00 Beijing the next day: the day's data is complete (its end + 6 h)."""
PRODUCT = "peak_shaving.peak_cut"


@dataclass
class Park:
    assets: list[uuid.UUID]
    owners: list[Caller]
    bid_id: uuid.UUID


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], clock: ManualClock) -> FastAPI:
    return create_app(settings, session_factory=session_factory, clock=clock)


def add_readings(
    session: Session,
    asset_id: uuid.UUID,
    day: date,
    values_kw: np.ndarray,
    skip: slice = slice(0),
    only: slice | None = None,
) -> None:
    """One reading per interval start of ``day`` (kW), except ``skip``, or only ``only``."""
    starts = interval_starts_utc(day)
    keep = np.ones(96, dtype=bool)
    keep[skip] = False
    if only is not None:
        keep[:] = False
        keep[only] = True
    session.execute(
        insert(TelemetryReading),
        [
            {"asset_id": asset_id, "ts": starts[k].to_pydatetime(), "power_kw": float(values_kw[k])}
            for k in range(96)
            if keep[k]
        ],
    )


def build_park(
    session: Session,
    owners: list[Caller],
    *,
    day: date = DAY,
    gap: tuple[int, slice] | None = None,
) -> Park:
    levels = [800.0, 500.0, 600.0]
    measured = hand_day()
    site_of = {}
    for i, owner in enumerate(owners):
        site = Site(
            account_id=owner.account_id, name=f"site {i}", connection_point="P", voltage_kv=10
        )
        session.add(site)
        session.flush()
        site_of[owner.account_id] = site.id
    asset_ids = []
    asset_owner = [owners[0], owners[0], owners[1]]
    for i, owner in enumerate(asset_owner):
        asset = Asset(
            account_id=owner.account_id,
            site_id=site_of[owner.account_id],
            name=f"load {i}",
            kind="curtailable_load",
            params={},
            baseline_kw=levels[i],
            up_kw=0.0,
            down_kw=levels[i],
        )
        session.add(asset)
        session.flush()
        asset_ids.append(asset.id)
    for i, asset_id in enumerate(asset_ids):
        for back in range(14, 0, -1):
            add_readings(session, asset_id, day - timedelta(days=back), np.full(96, levels[i]))
        skip = gap[1] if gap is not None and gap[0] == i else slice(0)
        add_readings(session, asset_id, day, measured[i], skip)
    bid = BidRow(
        product=PRODUCT,
        pack_version="gansu-2025.1",
        day=day,
        side="down",
        state="awarded",
        risk_quantile=0.1,
        ladder=[],
        offered_kwh=1250.0,
        expected_revenue_cny=0.0,
    )
    session.add(bid)
    session.flush()
    allocation = [400.0, 200.0, 400.0]
    for k in range(EVENT.start, EVENT.stop):
        session.add(
            AwardRow(
                bid_id=bid.id,
                product=PRODUCT,
                day=day,
                side="down",
                interval=k,
                quantity_kw=1000.0,
                price_cny_per_mwh=400.0,
            )
        )
        for i, asset_id in enumerate(asset_ids):
            session.add(
                BidAllocation(
                    bid_id=bid.id,
                    asset_id=asset_id,
                    interval=k,
                    account_id=asset_owner[i].account_id,
                    capacity_kw=allocation[i],
                    offered_kw=allocation[i],
                    awarded_kw=allocation[i],
                )
            )
    session.commit()
    return Park(asset_ids, owners, bid.id)


@pytest.fixture
def park(
    session_factory: sessionmaker[Session], enterprise: Caller, other_enterprise: Caller
) -> Park:
    with session_factory() as session:
        return build_park(session, [enterprise, other_enterprise])


@pytest.fixture
def make_park(
    session_factory: sessionmaker[Session], enterprise: Caller, other_enterprise: Caller
) -> Callable[..., Park]:
    def make(**kwargs: object) -> Park:
        with session_factory() as session:
            return build_park(session, [enterprise, other_enterprise], **kwargs)  # type: ignore[arg-type]

    return make
