"""Queries of bids, their per-asset allocations and awards."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from vpp.bidding.schemas import EDITABLE, BidState
from vpp.domain.time import INTERVALS_PER_DAY
from vpp.domain.units import FloatArray
from vpp.kit import daytable
from vpp.models import AwardRow, BidAllocation, BidRow, FirmSchedule

BoolArray = npt.NDArray[np.bool_]
_ALLOCATIONS: Table = BidAllocation.__table__  # type: ignore[assignment]
_FIRM: Table = FirmSchedule.__table__  # type: ignore[assignment]


def get_bid(session: Session, bid_id: uuid.UUID, *, lock: bool = False) -> BidRow | None:
    query = select(BidRow).where(BidRow.id == bid_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def list_bids(
    session: Session,
    after: uuid.UUID | None,
    limit: int,
    *,
    day: date | None = None,
    product: str | None = None,
    states: Sequence[str] | None = None,
) -> Sequence[BidRow]:
    query = select(BidRow).order_by(BidRow.id).limit(limit)
    if after is not None:
        query = query.where(BidRow.id > after)
    if day is not None:
        query = query.where(BidRow.day == day)
    if product is not None:
        query = query.where(BidRow.product == product)
    if states is not None:
        query = query.where(BidRow.state.in_(states))
    return session.scalars(query).all()


def live_bids_of_day(session: Session, day: date) -> Sequence[BidRow]:
    """Bids of a day that are not superseded, oldest first, locked."""
    return session.scalars(
        select(BidRow)
        .where(BidRow.day == day, BidRow.state != BidState.SUPERSEDED.value)
        .order_by(BidRow.id)
        .with_for_update()
    ).all()


def add_allocations(
    session: Session,
    bid_id: uuid.UUID,
    asset_ids: Sequence[uuid.UUID],
    account_ids: Sequence[uuid.UUID],
    capacity_kw: FloatArray,
    offered_kw: FloatArray,
    where: BoolArray,
) -> None:
    """The bid's allocations: each asset's capacity and offer (assets, 96) where ``where``."""
    daytable.write_matrix(
        session,
        _ALLOCATIONS,
        {"bid_id": bid_id},
        asset_ids,
        account_ids,
        {
            "capacity_kw": capacity_kw,
            "offered_kw": offered_kw,
            "awarded_kw": np.zeros_like(capacity_kw),
        },
        where,
    )


def offered_matrix(session: Session, bid_id: uuid.UUID) -> tuple[list[uuid.UUID], FloatArray]:
    """The assets backing the bid (sorted by id) and their offered kW (assets, 96): a
    day's bid of a large fleet has millions of allocations, read packed per asset."""
    ids, (offered,) = daytable.asset_matrix(
        session, "bid_allocations", ("offered_kw",), "bid_id = %s", [bid_id]
    )
    return ids, offered


def set_offered(session: Session, bid_id: uuid.UUID, interval: int, share: float) -> None:
    """Each asset's offer in an interval: the same share of its capacity."""
    session.execute(
        update(BidAllocation)
        .where(BidAllocation.bid_id == bid_id, BidAllocation.interval == interval)
        .values(offered_kw=BidAllocation.capacity_kw * share)
    )


def set_awarded(session: Session, bid_id: uuid.UUID, interval: int, share: float) -> None:
    """Each asset's award in an interval: the same share of its capacity."""
    session.execute(
        update(BidAllocation)
        .where(BidAllocation.bid_id == bid_id, BidAllocation.interval == interval)
        .values(awarded_kw=BidAllocation.capacity_kw * share)
    )


def capacity_by_interval(session: Session, bid_id: uuid.UUID) -> dict[int, float]:
    """The robust box's total per interval (kW): what the fleet can deliver of the bid."""
    rows = session.execute(
        select(BidAllocation.interval, func.sum(BidAllocation.capacity_kw))
        .where(BidAllocation.bid_id == bid_id)
        .group_by(BidAllocation.interval)
    )
    return {int(interval): float(total) for interval, total in rows}


def participation_rows(
    session: Session, day: date, account_id: uuid.UUID | None
) -> Sequence[tuple[BidAllocation, BidRow]]:
    """Allocations of the day's live bids, optionally of one enterprise only."""
    query = (
        select(BidAllocation, BidRow)
        .join(BidRow, BidRow.id == BidAllocation.bid_id)
        .where(BidRow.day == day, BidRow.state != BidState.SUPERSEDED.value)
        .order_by(BidAllocation.asset_id, BidRow.product, BidAllocation.interval)
    )
    if account_id is not None:
        query = query.where(BidAllocation.account_id == account_id)
    return [(alloc, bid) for alloc, bid in session.execute(query)]


def awards_of_day(session: Session, day: date) -> Sequence[AwardRow]:
    return session.scalars(
        select(AwardRow)
        .where(AwardRow.day == day)
        .order_by(AwardRow.product, AwardRow.interval, AwardRow.price_cny_per_mwh)
    ).all()


def replace_awards(session: Session, bid_id: uuid.UUID, rows: Sequence[AwardRow]) -> None:
    """The bid's awards as the market last published them (fetching twice changes nothing)."""
    session.execute(delete(AwardRow).where(AwardRow.bid_id == bid_id))
    session.add_all(rows)
    session.flush()


def replace_firm_schedules(
    session: Session,
    day: date,
    asset_ids: Sequence[uuid.UUID],
    account_ids: Sequence[uuid.UUID],
    firm_kw: FloatArray,
    where: BoolArray,
) -> None:
    """The day's firm schedules as the latest draft decided them: each asset's firm kW
    (assets, 96), stored where ``where``."""
    session.execute(delete(FirmSchedule).where(FirmSchedule.day == day))
    daytable.write_matrix(
        session, _FIRM, {"day": day}, asset_ids, account_ids, {"firm_kw": firm_kw}, where
    )


def firm_matrix(
    session: Session, day: date, first: int = 0, last: int = INTERVALS_PER_DAY - 1
) -> tuple[list[uuid.UUID], FloatArray]:
    """The assets with firm schedules on ``day`` (sorted by id) and their firm kW over
    intervals ``first..last`` (0 where none): what dispatch reads every minute."""
    ids, (firm,) = daytable.day_matrix(session, "firm_schedules", ("firm_kw",), day, first, last)
    return ids, firm


def firm_schedules(session: Session, day: date) -> dict[uuid.UUID, dict[int, float]]:
    """Firm kW by asset and interval for ``day`` (missing = 0)."""
    out: dict[uuid.UUID, dict[int, float]] = {}
    for row in session.scalars(select(FirmSchedule).where(FirmSchedule.day == day)):
        out.setdefault(row.asset_id, {})[row.interval] = row.firm_kw
    return out


def any_committed_bid(session: Session, day: date) -> BidRow | None:
    """A bid of ``day`` the market holds or held (submitted, rejected, awarded...)."""
    return session.scalars(
        select(BidRow)
        .where(BidRow.day == day, BidRow.state.not_in([*EDITABLE, BidState.SUPERSEDED]))
        .limit(1)
    ).first()
