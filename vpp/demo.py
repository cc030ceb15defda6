"""The demo: a simulated industrial park in Gansu, seeded and served on SQLite.

The park is modelled on a zero-carbon economic-technological development zone in the
Hexi corridor (about 39 N, 100.5 E): green hydrogen, chemicals, building materials,
a data centre, logistics with an EV fleet, and rooftop PV. Telemetry history for the
last two market days is synthesised from each asset's nominal baseline with a daily
shape and seeded noise, so the API has data to show from the first start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp.accounts import service as accounts
from vpp.config import Settings
from vpp.domain.assets import AssetKind, flexibility_of, parse_params
from vpp.domain.time import INTERVAL, MARKET_TZ, floor_to_interval
from vpp.models import Account, Asset, Site
from vpp.models.base import utcnow
from vpp.telemetry.repository import insert_readings

PARK_LATITUDE = 38.93
PARK_LONGITUDE = 100.45


@dataclass(frozen=True)
class DemoAsset:
    name: str
    kind: AssetKind
    params: dict[str, Any]


@dataclass(frozen=True)
class DemoEnterprise:
    name: str
    site: str
    voltage_kv: float
    assets: tuple[DemoAsset, ...]


def _a(name: str, kind: AssetKind, **params: Any) -> DemoAsset:
    return DemoAsset(name, kind, params)


PARK: tuple[DemoEnterprise, ...] = (
    DemoEnterprise(
        "Hexi Green Hydrogen",
        "Electrolysis plant",
        110.0,
        (
            _a(
                "Alkaline electrolyzer 1",
                AssetKind.SHIFTABLE_PROCESS,
                process="electrolyzer",
                rated_kw=12000,
                min_stable_kw=2400,
                max_kw=15000,
                storage_kwh=60000,
            ),
            _a("Plant rooftop PV", AssetKind.PV, peak_kw=8000, inverter_kw=7500),
        ),
    ),
    DemoEnterprise(
        "Qilian Fine Chemicals",
        "Chemical works",
        35.0,
        (
            _a(
                "Electric steam boiler",
                AssetKind.SHIFTABLE_PROCESS,
                process="electric_boiler",
                rated_kw=6000,
                min_stable_kw=1500,
                max_kw=8000,
                storage_kwh=18000,
                storage_loss_per_day=0.05,
            ),
            _a(
                "Process cooling",
                AssetKind.CURTAILABLE_LOAD,
                nominal_kw=1800,
                min_kw=1100,
                max_curtailment_kwh_per_day=2800,
            ),
        ),
    ),
    DemoEnterprise(
        "Danxia Building Materials",
        "Ceramics works",
        35.0,
        (
            _a(
                "Electric roller kiln",
                AssetKind.SHIFTABLE_PROCESS,
                process="kiln",
                rated_kw=4500,
                min_stable_kw=3200,
                max_kw=5200,
                storage_kwh=4000,
                ramp_kw_per_min=50,
            ),
        ),
    ),
    DemoEnterprise(
        "Zhangye Cloud Computing",
        "Data centre",
        110.0,
        (
            _a(
                "Batch compute",
                AssetKind.SHIFTABLE_PROCESS,
                process="data_center",
                rated_kw=3000,
                min_stable_kw=1800,
                max_kw=3600,
                storage_kwh=6000,
            ),
            _a(
                "UPS battery",
                AssetKind.BATTERY,
                capacity_kwh=4000,
                charge_power_kw=2000,
                discharge_power_kw=2000,
                soc_min=0.3,
                soc_max=0.95,
                soc_initial=0.6,
            ),
            _a(
                "Chiller plant",
                AssetKind.CURTAILABLE_LOAD,
                nominal_kw=1200,
                min_kw=900,
                max_curtailment_kwh_per_day=1200,
            ),
        ),
    ),
    DemoEnterprise(
        "Ganzhou Logistics",
        "Logistics hub",
        10.0,
        (
            _a(
                "Electric truck depot",
                AssetKind.EV_FLEET,
                charger_count=40,
                charger_power_kw=120,
                daily_energy_kwh=9600,
                plug_in_hours=12,
            ),
            _a("Warehouse PV", AssetKind.PV, peak_kw=3000),
        ),
    ),
    DemoEnterprise(
        "Heihe Food Processing",
        "Cold-chain plant",
        10.0,
        (
            _a(
                "Cold storage refrigeration",
                AssetKind.CURTAILABLE_LOAD,
                nominal_kw=900,
                min_kw=450,
                max_kw=1200,
                max_curtailment_kwh_per_day=1500,
            ),
            _a("Rooftop PV", AssetKind.PV, peak_kw=1500),
        ),
    ),
    DemoEnterprise(
        "Silk Road Textiles",
        "Spinning mill",
        10.0,
        (
            _a("HVAC and humidification", AssetKind.CURTAILABLE_LOAD, nominal_kw=1100, min_kw=700),
            _a("Rooftop PV", AssetKind.PV, peak_kw=2500, inverter_kw=2200),
        ),
    ),
    DemoEnterprise(
        "Park Shared Storage",
        "Storage station",
        35.0,
        (
            _a(
                "Shared battery station",
                AssetKind.BATTERY,
                capacity_kwh=20000,
                charge_power_kw=10000,
                discharge_power_kw=10000,
                round_trip_efficiency=0.88,
            ),
        ),
    ),
    DemoEnterprise(
        "Longqu Metal Works",
        "Foundry",
        35.0,
        (
            _a(
                "Induction furnace",
                AssetKind.SHIFTABLE_PROCESS,
                process="kiln",
                rated_kw=3500,
                min_stable_kw=0,
                max_kw=4200,
                storage_kwh=3500,
            ),
        ),
    ),
    DemoEnterprise(
        "Park Management Centre",
        "Administration campus",
        10.0,
        (
            _a("Office HVAC", AssetKind.CURTAILABLE_LOAD, nominal_kw=400, min_kw=200),
            _a(
                "Staff car chargers",
                AssetKind.EV_FLEET,
                charger_count=30,
                charger_power_kw=7,
                daily_energy_kwh=600,
                plug_in_hours=9,
                v2g=False,
            ),
            _a("Carport PV", AssetKind.PV, peak_kw=600),
        ),
    ),
)


def seed_park(session: Session, *, history_days: int = 2, seed: int = 7) -> list[Account]:
    """Create the park's enterprises, sites and assets (once) with telemetry history."""
    existing = session.execute(select(Account).where(Account.kind == "enterprise")).scalars().all()
    if existing:
        return list(existing)
    rng = np.random.default_rng(seed)
    enterprises = []
    for index, spec in enumerate(PARK):
        account = accounts.create_account(session, spec.name, "enterprise", actor=None)
        site = Site(
            account_id=account.id,
            name=spec.site,
            connection_point=f"GS-ZY-{index + 1:03d}",
            voltage_kv=spec.voltage_kv,
            latitude=PARK_LATITUDE + 0.01 * index,
            longitude=PARK_LONGITUDE + 0.01 * index,
        )
        session.add(site)
        session.flush()
        for item in spec.assets:
            params = parse_params(item.kind, item.params)
            flex = flexibility_of(params)
            asset = Asset(
                account_id=account.id,
                site_id=site.id,
                name=item.name,
                kind=item.kind.value,
                params={
                    k: (v.value if hasattr(v, "value") else v) for k, v in vars(params).items()
                },
                adapter="simulated",
                adapter_settings={"seed": int(rng.integers(1 << 31))},
                baseline_kw=flex.baseline_kw,
                up_kw=flex.up_kw,
                down_kw=flex.down_kw,
            )
            session.add(asset)
            session.flush()
            insert_readings(session, _history(asset, item, history_days, rng))
        enterprises.append(account)
    return enterprises


def _history(asset: Asset, item: DemoAsset, days: int, rng: np.random.Generator) -> list[Any]:
    """Synthetic 15-minute readings for the last ``days`` days (kW, net-load sign)."""
    end = floor_to_interval(utcnow())
    n = days * 96
    starts = [end - INTERVAL * (n - i) for i in range(n)]
    hours = np.array(
        [s.astimezone(MARKET_TZ).hour + s.astimezone(MARKET_TZ).minute / 60 for s in starts]
    )
    noise = rng.normal(0.0, 0.03, n)
    if item.kind is AssetKind.PV:
        # Clear-sky bell between about 08:00 and 18:00 local in late autumn, with clouds.
        sun = np.clip(np.sin(math.pi * (hours - 8.0) / 10.0), 0.0, None) ** 1.3
        clouds = 1.0 - 0.3 * rng.random(n)
        power = -float(item.params["peak_kw"]) * 0.85 * sun * clouds
    elif item.kind is AssetKind.BATTERY:
        power = np.zeros(n)
    else:
        shape = 1.0 + 0.08 * np.sin(2 * math.pi * (hours - 10.0) / 24.0)
        power = asset.baseline_kw * shape * (1.0 + noise)
    soc = 0.5 if item.kind is AssetKind.BATTERY else None
    return [
        (asset.id, ts, round(float(p), 3), soc, None, "online", "good")
        for ts, p in zip(starts, power, strict=True)
    ]


def ensure_staff_keys(session: Session) -> dict[str, str]:
    """Fresh operator, admin and first-enterprise keys for this demo run (shown once)."""
    tokens: dict[str, str] = {}
    for name, kind in (("Park Aggregator Operations", "operator"), ("Park Administrator", "admin")):
        account = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
        if account is None:
            account = accounts.create_account(session, name, kind, actor=None)
        tokens[kind] = accounts.issue_key(session, account.id, "demo", None, actor=None)[1]
    first = session.execute(select(Account).where(Account.name == PARK[0].name)).scalar_one()
    tokens["enterprise"] = accounts.issue_key(session, first.id, "demo", None, actor=None)[1]
    return tokens


def run(host: str = "127.0.0.1", port: int = 8000, reset: bool = False) -> int:
    """Migrate, seed, print keys, serve until interrupted."""
    import uvicorn

    from vpp.app import create_app
    from vpp.kit import migrate
    from vpp.kit.db import create_db_engine, make_sessionmaker

    settings = Settings(environment="demo")
    if reset and settings.is_sqlite:
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    migrate.upgrade(settings.database_url)
    engine = create_db_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        enterprises = seed_park(session)
        tokens = ensure_staff_keys(session)
        session.commit()
    engine.dispose()
    print(
        f"\nvpp demo: {len(enterprises)} enterprises seeded in {settings.database_url}\n"
        f"  API and docs   http://{host}:{port}/docs\n"
        f"  operator key   {tokens['operator']}\n"
        f"  admin key      {tokens['admin']}\n"
        f"  enterprise key {tokens['enterprise']}  ({PARK[0].name})\n"
        f"  try: curl -H 'Authorization: Bearer {tokens['operator']}' "
        f"http://{host}:{port}/v1/pool/summary\n",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0
