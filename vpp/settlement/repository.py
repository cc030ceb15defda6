"""Settlement queries: awards, allocations and readings to settle, stored versions, the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpp.models import (
    AgencyAgreement,
    AwardRow,
    BidAllocation,
    BidRow,
    LedgerRecord,
    Settlement,
    SettlementInterval,
    SettlementShare,
    SettlementStatement,
    TelemetryReading,
)

CHUNK = 500


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def awards_of_day(session: Session, day: date, products: Collection[str]) -> list[AwardRow]:
    """The day's award rows of the given products (kW, CNY/MWh)."""
    return list(
        session.scalars(
            select(AwardRow)
            .where(AwardRow.day == day, AwardRow.product.in_(list(products)))
            .order_by(AwardRow.product, AwardRow.interval, AwardRow.price_cny_per_mwh)
        )
    )


def award_days(
    session: Session, first: date, last: date, products: Collection[str] | None = None
) -> set[date]:
    """Market days in [first, last] with any award (of ``products`` if given): event days."""
    query = select(AwardRow.day).where(AwardRow.day >= first, AwardRow.day <= last)
    if products is not None:
        query = query.where(AwardRow.product.in_(list(products)))
    return set(session.scalars(query.distinct()))


def allocations(
    session: Session, bid_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, str, int, float]]:
    """(asset, account, product, interval, awarded kW) of the bids' awarded allocations."""
    out: list[tuple[uuid.UUID, uuid.UUID, str, int, float]] = []
    for chunk in _chunks(list(bid_ids)):
        rows = session.execute(
            select(
                BidAllocation.asset_id,
                BidAllocation.account_id,
                BidRow.product,
                BidAllocation.interval,
                BidAllocation.awarded_kw,
            )
            .join(BidRow, BidRow.id == BidAllocation.bid_id)
            .where(BidAllocation.bid_id.in_(chunk), BidAllocation.awarded_kw > 0)
        )
        out.extend((a, acc, p, int(t), float(kw)) for a, acc, p, t, kw in rows)
    return out


def readings(
    session: Session, asset_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> list[tuple[uuid.UUID, datetime, float]]:
    """Every reading (asset, ts, kW) of the assets in [start, end)."""
    out: list[tuple[uuid.UUID, datetime, float]] = []
    for chunk in _chunks(list(asset_ids)):
        rows = session.execute(
            select(TelemetryReading.asset_id, TelemetryReading.ts, TelemetryReading.power_kw)
            .where(
                TelemetryReading.asset_id.in_(chunk),
                TelemetryReading.ts >= start,
                TelemetryReading.ts < end,
            )
            .order_by(TelemetryReading.asset_id, TelemetryReading.ts)
        )
        out.extend((a, ts, float(kw)) for a, ts, kw in rows)
    return out


def agreements(session: Session) -> dict[uuid.UUID, AgencyAgreement]:
    return {row.account_id: row for row in session.scalars(select(AgencyAgreement))}


def get_agreement(session: Session, account_id: uuid.UUID) -> AgencyAgreement | None:
    return session.get(AgencyAgreement, account_id)


def latest_version(session: Session, day: date) -> Settlement | None:
    return session.scalars(
        select(Settlement).where(Settlement.day == day).order_by(Settlement.version.desc())
    ).first()


def ledger_tail(session: Session, day: date) -> tuple[int, str | None]:
    """Next sequence number of the day's chain and the hash of its last record."""
    last = session.scalars(
        select(LedgerRecord).where(LedgerRecord.day == day).order_by(LedgerRecord.seq.desc())
    ).first()
    return (0, None) if last is None else (last.seq + 1, last.hash)


def ledger_of_day(session: Session, day: date) -> list[LedgerRecord]:
    return list(
        session.scalars(
            select(LedgerRecord).where(LedgerRecord.day == day).order_by(LedgerRecord.seq)
        )
    )


def get_settlement(session: Session, settlement_id: uuid.UUID) -> Settlement | None:
    return session.get(Settlement, settlement_id)


def latest_settlements(session: Session, first: date, last: date) -> list[Settlement]:
    """The latest version of every settled day in [first, last], by day."""
    newest = (
        select(Settlement.day, func.max(Settlement.version).label("version"))
        .where(Settlement.day >= first, Settlement.day <= last)
        .group_by(Settlement.day)
        .subquery()
    )
    return list(
        session.scalars(
            select(Settlement)
            .join(
                newest,
                (Settlement.day == newest.c.day) & (Settlement.version == newest.c.version),
            )
            .order_by(Settlement.day)
        )
    )


def statements(
    session: Session, settlement_ids: Sequence[uuid.UUID], account_id: uuid.UUID | None
) -> list[SettlementStatement]:
    query = select(SettlementStatement).where(
        SettlementStatement.settlement_id.in_(list(settlement_ids))
    )
    if account_id is not None:
        query = query.where(SettlementStatement.account_id == account_id)
    return list(
        session.scalars(query.order_by(SettlementStatement.account_id, SettlementStatement.product))
    )


def shares(
    session: Session, settlement_id: uuid.UUID, account_id: uuid.UUID | None
) -> list[SettlementShare]:
    query = select(SettlementShare).where(SettlementShare.settlement_id == settlement_id)
    if account_id is not None:
        query = query.where(SettlementShare.account_id == account_id)
    return list(
        session.scalars(
            query.order_by(
                SettlementShare.account_id, SettlementShare.product, SettlementShare.interval
            )
        )
    )


def pool_intervals(session: Session, settlement_id: uuid.UUID) -> list[SettlementInterval]:
    return list(
        session.scalars(
            select(SettlementInterval)
            .where(SettlementInterval.settlement_id == settlement_id)
            .order_by(SettlementInterval.product, SettlementInterval.interval)
        )
    )
