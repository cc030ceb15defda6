"""Fresh, migrated databases for one benchmark, and seeding through the real code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic_core import to_jsonable_python
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from bench.core import Context, check
from vpp.accounts import service as accounts
from vpp.domain.assets import AssetKind, flexibility_of, parse_params
from vpp.kit import migrate
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Asset, Site, TelemetryReading

Backend = Literal["sqlite", "postgresql"]


@contextmanager
def fresh_database(ctx: Context, name: str, backend: Backend) -> Iterator[str]:
    """Yield the URL of a new database migrated to head; it is removed afterwards.

    SQLite: a new file under the run's temp dir. PostgreSQL: ``bench_<name>`` created
    through the admin URL (dropped first if a crashed run left it) and dropped at the end.
    """
    check(re.fullmatch(r"[a-z0-9_]+", name) is not None, f"bad database name {name!r}")
    if backend == "sqlite":
        directory = ctx.workdir / f"sqlite_{name}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "vpp.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return

    check(ctx.pg_admin_url is not None, "PostgreSQL benchmark without VPP_TEST_POSTGRES_URL")
    assert ctx.pg_admin_url is not None
    database = f"bench_{name}"
    admin = create_db_engine(ctx.pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = (
            make_url(ctx.pg_admin_url).set(database=database).render_as_string(hide_password=False)
        )
        try:
            migrate.upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass(frozen=True)
class Tenant:
    """An enterprise account with one site, its assets and an API key."""

    account_id: str
    token: str
    asset_ids: tuple[str, ...]


# A few realistic parameter sets; each seeded asset takes the next one in turn.
_ASSET_SPECS: tuple[tuple[AssetKind, dict[str, object]], ...] = (
    (
        AssetKind.BATTERY,
        {"capacity_kwh": 2000, "charge_power_kw": 1000, "discharge_power_kw": 1000},
    ),
    (
        AssetKind.CURTAILABLE_LOAD,
        {"nominal_kw": 800, "min_kw": 500, "max_curtailment_kwh_per_day": 1200},
    ),
    (AssetKind.PV, {"peak_kw": 1500}),
)


def seed_tenant(engine: Engine, n_assets: int, name: str = "Bench Enterprise") -> Tenant:
    """Create an enterprise (``create_account``), its key (``issue_key``), a site and
    ``n_assets`` assets whose flexibility is derived like the service derives it."""
    factory = make_sessionmaker(engine)
    with factory() as session:
        account = accounts.create_account(session, name, "enterprise", actor=None)
        _key, token = accounts.issue_key(session, account.id, "bench", None, actor=None)
        site = Site(
            account_id=account.id,
            name=f"{name} site",
            connection_point="BENCH-001",
            voltage_kv=35.0,
            latitude=38.93,
            longitude=100.45,
        )
        session.add(site)
        session.flush()
        assets: list[Asset] = []
        for index in range(n_assets):
            kind, spec = _ASSET_SPECS[index % len(_ASSET_SPECS)]
            params = parse_params(kind, spec)
            flex = flexibility_of(params)
            assets.append(
                Asset(
                    account_id=account.id,
                    site_id=site.id,
                    name=f"{kind.value} {index + 1}",
                    kind=kind.value,
                    params=to_jsonable_python(params),
                    adapter="simulated",
                    adapter_settings={"seed": index},
                    baseline_kw=flex.baseline_kw,
                    up_kw=flex.up_kw,
                    down_kw=flex.down_kw,
                )
            )
        session.add_all(assets)
        session.flush()
        tenant = Tenant(str(account.id), token, tuple(str(a.id) for a in assets))
        session.commit()
    check(len(set(tenant.asset_ids)) == n_assets, "seeded asset ids are not distinct")
    return tenant


def count_readings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TelemetryReading)).scalar_one())
