"""Queries of the green-power ledger: meter readings, contracts, certificates, and the
telemetry, assets and plans a month's report reads."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpp.models import (
    Account,
    Asset,
    BidAllocation,
    GreenCertificate,
    GreenContract,
    MeterReading,
    PlannedSetpointRow,
    Site,
    TelemetryReading,
)
from vpp.models.base import utcnow


def own_site_ids(
    session: Session, account_id: uuid.UUID, site_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``site_ids`` that are active sites of the account."""
    rows = session.execute(
        select(Site.id).where(
            Site.id.in_(list(site_ids)), Site.account_id == account_id, Site.retired_at.is_(None)
        )
    )
    return set(rows.scalars())


def insert_readings(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store readings, skipping any (site, commodity, ts) already stored; return how many
    were new. Runs in the caller's transaction."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    site_ids = {r["site_id"] for r in rows}
    first, last = min(r["ts"] for r in rows), max(r["ts"] for r in rows)
    before = _count(session, site_ids, first, last)
    session.execute(insert(MeterReading).on_conflict_do_nothing(), list(rows))
    return _count(session, site_ids, first, last) - before


def _count(session: Session, site_ids: set[uuid.UUID], first: datetime, last: datetime) -> int:
    query = (
        select(func.count())
        .select_from(MeterReading)
        .where(MeterReading.site_id.in_(site_ids), MeterReading.ts.between(first, last))
    )
    return int(session.execute(query).scalar_one())


def enterprise_accounts(session: Session, account_id: uuid.UUID | None) -> dict[uuid.UUID, str]:
    """Enterprise accounts by id (one, or all of them) and their names."""
    query = select(Account.id, Account.name).where(Account.kind == "enterprise")
    if account_id is not None:
        query = query.where(Account.id == account_id)
    return {row.id: row.name for row in session.execute(query.order_by(Account.name))}


def account_exists(session: Session, account_id: uuid.UUID) -> bool:
    query = select(Account.id).where(Account.id == account_id, Account.kind == "enterprise")
    return session.execute(query).first() is not None


def assets_frame(session: Session, account_ids: Collection[uuid.UUID]) -> pd.DataFrame:
    """``asset_id``, ``account_id``, ``kind`` of every asset of the accounts."""
    rows = session.execute(
        select(Asset.id, Asset.account_id, Asset.kind).where(
            Asset.account_id.in_(list(account_ids))
        )
    ).all()
    return pd.DataFrame(rows, columns=["asset_id", "account_id", "kind"])


def telemetry_frame(
    session: Session, asset_ids: Collection[uuid.UUID], start: datetime, end: datetime
) -> pd.DataFrame:
    """``asset_id``, ``ts`` (UTC), ``power_kw`` of the assets' readings in [start, end)."""
    rows = session.execute(
        select(TelemetryReading.asset_id, TelemetryReading.ts, TelemetryReading.power_kw).where(
            TelemetryReading.asset_id.in_(list(asset_ids)),
            TelemetryReading.ts >= start,
            TelemetryReading.ts < end,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["asset_id", "ts", "power_kw"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["power_kw"] = frame["power_kw"].astype("float64")
    return frame


def readings_frame(
    session: Session, account_ids: Collection[uuid.UUID], start: datetime, end: datetime
) -> pd.DataFrame:
    """``account_id``, ``commodity``, ``ts`` (UTC), ``quantity`` (canonical unit) of the
    accounts' meter readings in [start, end)."""
    rows = session.execute(
        select(
            MeterReading.account_id, MeterReading.commodity, MeterReading.ts, MeterReading.quantity
        ).where(
            MeterReading.account_id.in_(list(account_ids)),
            MeterReading.ts >= start,
            MeterReading.ts < end,
        )
    ).all()
    frame = pd.DataFrame(rows, columns=["account_id", "commodity", "ts", "quantity"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["quantity"] = frame["quantity"].astype("float64")
    return frame


def contracts_overlapping(
    session: Session, account_ids: Collection[uuid.UUID], start: datetime, end: datetime
) -> Sequence[GreenContract]:
    query = select(GreenContract).where(
        GreenContract.account_id.in_(list(account_ids)),
        GreenContract.delivery_start < end,
        GreenContract.delivery_end > start,
    )
    return session.execute(query).scalars().all()


def certificates_of(
    session: Session, account_ids: Collection[uuid.UUID] | None
) -> Sequence[GreenCertificate]:
    query = select(GreenCertificate)
    if account_ids is not None:
        query = query.where(GreenCertificate.account_id.in_(list(account_ids)))
    return session.execute(query.order_by(GreenCertificate.gec_id)).scalars().all()


def list_certificates(
    session: Session,
    account_id: uuid.UUID | None,
    after: str | None,
    limit: int,
    valid_on: date | None = None,
) -> Sequence[GreenCertificate]:
    query = select(GreenCertificate)
    if account_id is not None:
        query = query.where(GreenCertificate.account_id == account_id)
    if after is not None:
        query = query.where(GreenCertificate.gec_id > after)
    if valid_on is not None:
        query = query.where(
            GreenCertificate.valid_until >= valid_on,
            GreenCertificate.production_month <= valid_on,
        )
    return session.execute(query.order_by(GreenCertificate.gec_id).limit(limit)).scalars().all()


def existing_certificate_ids(session: Session, gec_ids: Collection[str]) -> set[str]:
    found: set[str] = set()
    ids = list(gec_ids)
    for offset in range(0, len(ids), 1000):
        chunk = ids[offset : offset + 1000]
        query = select(GreenCertificate.gec_id).where(GreenCertificate.gec_id.in_(chunk))
        found.update(session.execute(query).scalars())
    return found


def claim(session: Session, gec_ids: Collection[str], month: date) -> int:
    """Mark unused certificates as used for ``month``; return how many changed."""
    changed = 0
    ids = list(gec_ids)
    for offset in range(0, len(ids), 1000):
        result = session.execute(
            update(GreenCertificate)
            .where(
                GreenCertificate.gec_id.in_(ids[offset : offset + 1000]),
                GreenCertificate.claimed_month.is_(None),
            )
            .values(claimed_month=month, claimed_at=utcnow())
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def plans_frame(
    session: Session, account_ids: Collection[uuid.UUID], first_day: date, last_day: date
) -> pd.DataFrame:
    """``account_id``, ``asset_id``, ``day``, ``interval``, ``baseline_kw``, ``deviation_kw`` of
    the day-ahead plans of the days [first_day, last_day]."""
    rows = session.execute(
        select(
            PlannedSetpointRow.account_id,
            PlannedSetpointRow.asset_id,
            PlannedSetpointRow.day,
            PlannedSetpointRow.interval,
            PlannedSetpointRow.baseline_kw,
            PlannedSetpointRow.deviation_kw,
        ).where(
            PlannedSetpointRow.account_id.in_(list(account_ids)),
            PlannedSetpointRow.day >= first_day,
            PlannedSetpointRow.day <= last_day,
        )
    ).all()
    return pd.DataFrame(
        rows, columns=["account_id", "asset_id", "day", "interval", "baseline_kw", "deviation_kw"]
    )


def awarded_by_account(session: Session, bid_id: uuid.UUID) -> list[tuple[uuid.UUID, int, float]]:
    """(account, interval, awarded kW summed over the account's assets) of a bid's
    allocations with an award."""
    rows = session.execute(
        select(BidAllocation.account_id, BidAllocation.interval, func.sum(BidAllocation.awarded_kw))
        .where(BidAllocation.bid_id == bid_id, BidAllocation.awarded_kw > 0)
        .group_by(BidAllocation.account_id, BidAllocation.interval)
        .order_by(BidAllocation.account_id, BidAllocation.interval)
    ).all()
    return [(account, int(interval), float(kw)) for account, interval, kw in rows]


def contract_references(session: Session, prefix: str) -> set[str]:
    """References of the contracts whose reference starts with ``prefix``."""
    query = select(GreenContract.reference).where(GreenContract.reference.startswith(prefix))
    return set(session.execute(query).scalars())


def award_energy_kwh(
    session: Session, account_id: uuid.UUID, start: datetime, end: datetime
) -> float:
    """kWh of the account's award contracts whose delivery starts in [start, end)."""
    query = select(func.coalesce(func.sum(GreenContract.energy_kwh), 0.0)).where(
        GreenContract.account_id == account_id,
        GreenContract.source == "award",
        GreenContract.delivery_start >= start,
        GreenContract.delivery_start < end,
    )
    return float(session.execute(query).scalar_one())


def award_certificate_count(session: Session, account_id: uuid.UUID, month: date) -> int:
    """Certificates of the account's award contracts produced in ``month``."""
    query = (
        select(func.count())
        .select_from(GreenCertificate)
        .join(GreenContract, GreenContract.id == GreenCertificate.contract_id)
        .where(
            GreenCertificate.account_id == account_id,
            GreenCertificate.production_month == month,
            GreenContract.source == "award",
        )
    )
    return int(session.execute(query).scalar_one())
