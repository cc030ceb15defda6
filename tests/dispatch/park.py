"""Small parks for the intraday tests: assets, a stored plan, pool targets, readings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from vpp.accounts import service as accounts
from vpp.assets.service import apply_params
from vpp.domain.assets import parse_params
from vpp.domain.time import INTERVALS_PER_DAY
from vpp.models import Asset, PlannedSetpointRow, PoolTarget, Site
from vpp.telemetry.repository import insert_readings

PEAK_CUT = "peak_shaving.peak_cut"
"""A DOWN product: the pool lowers its net load."""
VALLEY_FILL = "peak_shaving.valley_fill"
"""An UP product: the pool raises its net load."""
BATTERY = {
    "capacity_kwh": 10_000.0,
    "charge_power_kw": 100.0,
    "discharge_power_kw": 100.0,
    "soc_min": 0.0,
    "soc_max": 1.0,
    "soc_initial": 0.5,
    "round_trip_efficiency": 1.0,
}
"""100 kW either way, 10 MWh: energy never binds within a day."""


def enterprise(session: Session, name: str) -> uuid.UUID:
    account = accounts.create_account(session, name, "enterprise", actor=None)
    session.flush()
    return account.id


def add_asset(
    session: Session,
    account_id: uuid.UUID,
    kind: str = "battery",
    params: Mapping[str, Any] = BATTERY,
    name: str = "asset",
) -> Asset:
    site = Site(account_id=account_id, name="site", connection_point="GS-1", voltage_kv=10.0)
    session.add(site)
    session.flush()
    asset = Asset(
        account_id=account_id,
        site_id=site.id,
        name=name,
        kind=kind,
        adapter="simulated",
        adapter_settings={"seed": 1},
    )
    apply_params(asset, parse_params(kind, dict(params)))
    session.add(asset)
    session.flush()
    return asset


def store_plan(
    session: Session,
    day: date,
    assets: Sequence[Asset],
    deviation_kw: Mapping[tuple[int, int], float],
    baseline_kw: float = 0.0,
) -> None:
    """Plan rows for every asset and interval; ``deviation_kw[(asset index, interval)]``."""
    for i, asset in enumerate(assets):
        for t in range(INTERVALS_PER_DAY):
            d = deviation_kw.get((i, t), 0.0)
            session.add(
                PlannedSetpointRow(
                    day=day,
                    asset_id=asset.id,
                    interval=t,
                    account_id=asset.account_id,
                    baseline_kw=baseline_kw,
                    deviation_kw=d,
                    setpoint_kw=baseline_kw + d,
                )
            )
    session.flush()


def award(session: Session, day: date, product: str, kw_by_interval: Mapping[int, float]) -> None:
    for t, kw in kw_by_interval.items():
        session.add(
            PoolTarget(
                day=day, product=product, interval=t, awarded_kw=kw, planned_kw=kw, shortfall_kw=0
            )
        )
    session.flush()


def reading(
    session: Session, asset: Asset, ts: datetime, power_kw: float, energy_kwh: float | None = None
) -> None:
    insert_readings(session, [(asset.id, ts, power_kw, None, energy_kwh, "online", "good")])
