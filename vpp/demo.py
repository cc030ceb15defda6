"""The demo: a simulated industrial park in Gansu, seeded and served on SQLite.

The park is modelled on a zero-carbon economic-technological development zone in the
Hexi corridor (about 39 N, 100.5 E): green hydrogen, chemicals, building materials,
a data centre, logistics with an EV fleet, and rooftop PV. Each asset is bound to
the simulated adapter; four weeks of history are replayed from the same device physics
so the API has data from the first start, and the running service then steps the
devices, stores their telemetry and applies setpoints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.simulated.adapter import PARK_LATITUDE, PARK_LONGITUDE, SimulatedSettings
from adapters.simulated.physics import make_device
from vpp.accounts import service as accounts
from vpp.assets.service import apply_params
from vpp.config import Settings
from vpp.dispatch.registry import validate_binding
from vpp.domain.assets import AssetKind, parse_params
from vpp.domain.time import INTERVAL, floor_to_interval
from vpp.green.demo import seed_green
from vpp.models import Account, Asset, Site
from vpp.models.base import utcnow
from vpp.telemetry.repository import insert_readings


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


def seed_park(session: Session, *, history_days: int = 28, seed: int = 7) -> list[Account]:
    """Create the park's enterprises, sites and assets (once) with telemetry history."""
    existing = session.execute(select(Account).where(Account.kind == "enterprise")).scalars().all()
    if existing:
        # The same order as a first seeding: PARK's. The query has none of its own, and
        # PostgreSQL returns rows in whatever order the heap holds them after updates.
        position = {spec.name: index for index, spec in enumerate(PARK)}
        return sorted(existing, key=lambda account: position.get(account.name, len(PARK)))
    rng = random.Random(seed)
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
            asset = Asset(
                account_id=account.id,
                site_id=site.id,
                name=item.name,
                kind=item.kind.value,
                adapter="simulated",
                adapter_settings=validate_binding(
                    "simulated",
                    {
                        "seed": rng.randrange(1 << 31),
                        "latitude": site.latitude,
                        "longitude": site.longitude,
                    },
                ),
            )
            apply_params(asset, parse_params(item.kind, item.params))
            session.add(asset)
            session.flush()
            insert_readings(session, _history(asset, history_days))
        enterprises.append(account)
    seed_green(session, enterprises, history_days)
    return enterprises


def _history(asset: Asset, days: int) -> list[Any]:
    """Readings every 15 minutes for the last ``days`` days, from the asset's simulated
    device running without setpoints (kW, net-load sign)."""
    settings = SimulatedSettings.model_validate(asset.adapter_settings)
    device = make_device(
        asset.kind, asset.params, settings.seed, settings.latitude, settings.longitude
    )
    end = floor_to_interval(utcnow())
    rows = []
    for i in range(days * 96, 0, -1):
        ts = end - INTERVAL * i
        state = device.step(ts, INTERVAL.total_seconds())
        rows.append(
            (asset.id, ts, state.power_kw, state.soc, state.energy_kwh, state.status, "good")
        )
    return rows


def ensure_staff_keys(session: Session) -> dict[str, str]:
    """Fresh operator, admin, grid-company and first-enterprise keys for this demo run
    (shown once)."""
    tokens: dict[str, str] = {}
    for name, kind in (
        ("Park Aggregator Operations", "operator"),
        ("Park Administrator", "admin"),
        ("Gansu Grid Dispatch", "grid"),
    ):
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

    settings = Settings(
        environment="demo",
        dispatch_enabled=True,
        scheduler_enabled=True,
        bid_auto_approve=True,
    )
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
        f"  grid key       {tokens['grid']}  (signing keys for instructions: vpp grid keygen)\n"
        f"  enterprise key {tokens['enterprise']}  ({PARK[0].name})\n"
        f"  try: curl -H 'Authorization: Bearer {tokens['operator']}' "
        f"http://{host}:{port}/v1/pool/summary\n",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0
