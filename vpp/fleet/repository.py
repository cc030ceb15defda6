"""Writing a drawn fleet: accounts, sites and assets through each database's bulk path.

Rows go in as PostgreSQL binary COPY or one SQLite executemany per table
(``vpp.kit.bulk``), not object by object through the ORM: 100,000 assets take seconds
instead of minutes. The derived columns (baseline, rated up/down flexibility) are
computed exactly as enrolment does (``vpp.assets.service.apply_params``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from vpp.domain.assets import flexibility_of
from vpp.fleet.mix import FleetSpec
from vpp.kit.audit import audit
from vpp.kit.bulk import bulk_insert, sqlite_timestamp
from vpp.kit.errors import Problem
from vpp.models import Account, Asset, Site, new_id

ACCOUNT_COLUMNS = ("id", "name", "kind", "created_at")
SITE_COLUMNS = (
    "id",
    "account_id",
    "name",
    "connection_point",
    "voltage_kv",
    "latitude",
    "longitude",
    "created_at",
    "updated_at",
)
ASSET_COLUMNS = (
    "id",
    "account_id",
    "site_id",
    "name",
    "kind",
    "params",
    "adapter",
    "adapter_settings",
    "baseline_kw",
    "up_kw",
    "down_kw",
    "created_at",
    "updated_at",
)
_ASSET_PG_TYPES = (
    "uuid",
    "uuid",
    "uuid",
    "text",
    "text",
    "jsonb",
    "text",
    "jsonb",
    "float8",
    "float8",
    "float8",
    "timestamptz",
    "timestamptz",
)


def _insert_assets(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """``vpp.kit.bulk.bulk_insert`` for the assets table, whose JSON columns it lacks:
    COPY with jsonb on PostgreSQL, JSON text on SQLite (as SQLAlchemy's JSON stores it)."""
    table: Table = Asset.__table__  # type: ignore[assignment]
    connection = session.connection()
    dbapi: Any = connection.connection.dbapi_connection
    columns = ", ".join(ASSET_COLUMNS)
    if connection.dialect.name == "postgresql":
        with (
            dbapi.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(list(_ASSET_PG_TYPES))
            for row in rows:
                copy.write_row(row)
        return

    stamps: dict[datetime, str] = {}

    def sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
        # Positions as in ASSET_COLUMNS: ids 0-2, JSON 5 and 7, timestamps 11-12.
        created, updated = (stamps.setdefault(ts, sqlite_timestamp(ts)) for ts in row[11:13])
        return (
            row[0].hex,
            row[1].hex,
            row[2].hex,
            row[3],
            row[4],
            json.dumps(row[5]),
            row[6],
            json.dumps(row[7]),
            *row[8:11],
            created,
            updated,
        )

    placeholders = ", ".join("?" * len(ASSET_COLUMNS))
    cursor = dbapi.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders})",  # noqa: S608
            (sqlite_row(row) for row in rows),
        )
    finally:
        cursor.close()


@dataclass(frozen=True)
class WrittenFleet:
    """What was written: counts of enterprises (each with one site) and assets."""

    enterprises: int
    assets: int


def write_fleet(session: Session, fleet: FleetSpec, now: datetime) -> WrittenFleet:
    """Insert the fleet in the caller's transaction (the caller commits). 409 if one of its
    enterprise names exists already (the same seed and prefix were written before)."""
    names = [company.name for company in fleet.enterprises]
    taken = session.scalar(
        select(func.count()).select_from(Account).where(Account.name.in_(names[:1000]))
    )
    if taken:
        raise Problem(
            409,
            f"enterprise {names[0]!r} exists: this fleet (seed and prefix) was generated "
            "before; choose another --seed or --prefix",
        )
    accounts: list[tuple[Any, ...]] = []
    sites: list[tuple[Any, ...]] = []
    for company in fleet.enterprises:
        account_id = new_id()
        accounts.append((account_id, company.name, "enterprise", now))
        sites.append(
            (
                new_id(),
                account_id,
                company.site_name,
                company.connection_point,
                company.voltage_kv,
                company.latitude,
                company.longitude,
                now,
                now,
            )
        )
    assets: list[tuple[Any, ...]] = []
    for spec in fleet.assets:
        flex = flexibility_of(spec.params)
        site = sites[spec.enterprise]
        binding = {"seed": spec.device_seed, "latitude": site[5], "longitude": site[6]}
        assets.append(
            (
                new_id(),
                site[1],
                site[0],
                spec.name,
                spec.kind.value,
                to_jsonable_python(spec.params),
                "simulated",
                binding,
                flex.baseline_kw,
                flex.up_kw,
                flex.down_kw,
                now,
                now,
            )
        )
    bulk_insert(session, Account.__table__, ACCOUNT_COLUMNS, accounts)  # type: ignore[arg-type]
    bulk_insert(session, Site.__table__, SITE_COLUMNS, sites)  # type: ignore[arg-type]
    _insert_assets(session, assets)
    audit(
        session,
        None,
        "fleet.generate",
        "fleet",
        None,
        {"enterprises": len(accounts), "assets": len(assets), "first": names[0]},
    )
    return WrittenFleet(enterprises=len(accounts), assets=len(assets))
