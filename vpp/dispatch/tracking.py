"""Delivery tracking: measured response against the plan, per product and interval.

An asset dispatched in an interval (planned response |deviation − firm| >= `ACTIVE_KW`)
counts in the direction of its planned response; its measured response is its mean
measured net load over the interval minus the plan's baseline and its firm schedule
(kW, net-load sign). The pool's delivery in a direction is the sum over its dispatched
assets, signed so that delivering is positive (UP: + net load, DOWN: − net load), and is
shared among the products of that direction in proportion to their targets. Assets
without readings in the interval count with their baseline (no response).

When an interval is over, `close_interval` stores each asset's mean reading
(``asset_deliveries``) and the pool's delivery per product (``pool_targets.delivered_kw``),
so reading a day's tracking never scans its raw telemetry; the interval under way is
computed live from its readings so far.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vpp.bidding import repository as bids_repository
from vpp.dispatch import repository
from vpp.domain.time import INTERVAL, day_bounds_utc, interval_of, interval_starts_utc
from vpp.domain.units import Direction
from vpp.kit.bulk import bulk_insert
from vpp.models import AssetDelivery, PlannedSetpointRow, PoolTarget
from vpp.ports import MarketPack
from vpp.telemetry import repository as telemetry_repository

ACTIVE_KW = 0.5
"""Planned response below this (kW) means the asset was not dispatched in the interval."""
WITHIN = 0.05
"""Delivery within ±5 % of the award counts as delivered (the acceptance rule)."""


@dataclass(frozen=True)
class TrackedInterval:
    """One product in one interval: the pool's numbers (kW, in the product's direction)."""

    product: str
    interval: int
    start: datetime
    awarded_kw: float | None
    target_kw: float | None
    planned_kw: float
    delivered_kw: float | None
    live: bool


@dataclass(frozen=True)
class TrackedProduct:
    """A product's day: energy awarded and delivered (kWh) and intervals within ±5 %."""

    product: str
    direction: Direction
    awarded_kwh: float | None
    delivered_kwh: float
    intervals_awarded: int
    intervals_within_5pct: int | None


@dataclass(frozen=True)
class Tracking:
    day: date
    scope: str
    """``pool`` (operators) or ``enterprise`` (only the caller's assets' contribution)."""
    products: list[TrackedProduct]
    intervals: list[TrackedInterval]


def _sides(packs: Mapping[str, MarketPack], products: Sequence[str]) -> dict[str, Direction]:
    return {p: packs[p].limits().side for p in products if p in packs}


def response_by_direction(
    plan: Sequence[tuple[uuid.UUID, float, float]],
    firm_kw: Mapping[uuid.UUID, float],
    measured_kw: Mapping[uuid.UUID, float],
) -> tuple[dict[Direction, float], dict[Direction, float]]:
    """(planned, delivered) response per direction (kW, >= 0 when delivering) of the
    assets ``plan`` = [(asset_id, baseline_kw, deviation_kw)] in one interval."""
    planned = {Direction.UP: 0.0, Direction.DOWN: 0.0}
    delivered = {Direction.UP: 0.0, Direction.DOWN: 0.0}
    for asset_id, baseline, deviation in plan:
        firm = firm_kw.get(asset_id, 0.0)
        response = deviation - firm
        if abs(response) < ACTIVE_KW:
            continue
        direction, sign = (Direction.UP, 1.0) if response > 0 else (Direction.DOWN, -1.0)
        planned[direction] += sign * response
        measured = measured_kw.get(asset_id)
        if measured is not None:
            delivered[direction] += sign * (measured - baseline - firm)
    return planned, delivered


def close_interval(
    session: Session, packs: Mapping[str, MarketPack], day: date, interval: int
) -> int:
    """Store the interval's mean readings per planned asset and the pool's delivery per
    product (not committed; repeatable). Returns how many assets had readings."""
    start = interval_starts_utc(day)[interval].to_pydatetime()
    plan = repository.plan_rows(session, day, interval, interval)
    if not plan:
        return 0
    means = telemetry_repository.interval_means(session, start, start + INTERVAL)
    session.execute(
        delete(AssetDelivery).where(AssetDelivery.day == day, AssetDelivery.interval == interval)
    )
    accounts = _accounts(session, day, interval)
    bulk_insert(
        session,
        AssetDelivery.__table__,  # type: ignore[arg-type]
        ("day", "asset_id", "interval", "account_id", "measured_kw", "samples"),
        [
            (day, asset_id, interval, accounts[asset_id], round(means[asset_id][0], 3),
             means[asset_id][1])
            for asset_id, *_ in plan
            if asset_id in means
        ],
    )  # fmt: skip
    firm = _firm_at(session, day, interval)
    _, delivered = response_by_direction(
        [(a, b, d) for a, _, b, d in plan], firm, {a: m for a, (m, _) in means.items()}
    )
    rows = list(
        session.scalars(
            select(PoolTarget).where(PoolTarget.day == day, PoolTarget.interval == interval)
        )
    )
    for row, kw in _per_product(rows, _sides(packs, [r.product for r in rows]), delivered):
        row.delivered_kw = kw
    session.flush()
    return sum(1 for a, *_ in plan if a in means)


def _accounts(session: Session, day: date, interval: int) -> dict[uuid.UUID, uuid.UUID]:
    rows = session.execute(
        select(PlannedSetpointRow.asset_id, PlannedSetpointRow.account_id).where(
            PlannedSetpointRow.day == day, PlannedSetpointRow.interval == interval
        )
    )
    return {a: b for a, b in rows}


def _firm_at(session: Session, day: date, interval: int) -> dict[uuid.UUID, float]:
    return {
        asset_id: by_interval[interval]
        for asset_id, by_interval in bids_repository.firm_schedules(session, day).items()
        if interval in by_interval
    }


def _per_product(
    rows: Sequence[PoolTarget], sides: Mapping[str, Direction], amount: Mapping[Direction, float]
) -> list[tuple[PoolTarget, float]]:
    """Share each direction's amount among its products in proportion to their targets."""
    totals: dict[Direction, float] = defaultdict(float)
    for row in rows:
        if row.product in sides:
            totals[sides[row.product]] += row.target_kw
    out = []
    for row in rows:
        if row.product not in sides:
            continue
        side = sides[row.product]
        share = row.target_kw / totals[side] if totals[side] > 0 else 0.0
        out.append((row, round(max(amount[side], 0.0) * share, 3)))
    return out


def read_tracking(
    session: Session,
    packs: Mapping[str, MarketPack],
    day: date,
    account_id: uuid.UUID | None,
    now: datetime,
) -> Tracking:
    """The day's tracking: the pool's (``account_id`` None) or one enterprise's contribution."""
    rows = list(
        session.scalars(
            select(PoolTarget)
            .where(PoolTarget.day == day)
            .order_by(PoolTarget.product, PoolTarget.interval)
        )
    )
    sides = _sides(packs, sorted({r.product for r in rows}))
    starts = [s.to_pydatetime() for s in interval_starts_utc(day)]
    day_start, day_end = day_bounds_utc(day)
    live = interval_of(now).index if day_start <= now < day_end else None
    plan: dict[int, list[tuple[uuid.UUID, float, float]]] = defaultdict(list)
    for asset_id, t, baseline, deviation in repository.plan_rows(
        session, day, account_id=account_id
    ):
        plan[t].append((asset_id, baseline, deviation))
    stored: dict[int, dict[uuid.UUID, float]] = defaultdict(dict)
    query = select(AssetDelivery.interval, AssetDelivery.asset_id, AssetDelivery.measured_kw).where(
        AssetDelivery.day == day
    )
    if account_id is not None:
        query = query.where(AssetDelivery.account_id == account_id)
    for t, asset_id, measured in session.execute(query):
        stored[t][asset_id] = measured
    if live is not None:
        means = telemetry_repository.interval_means(session, starts[live], now, account_id)
        stored[live] = {a: m for a, (m, _) in means.items()}
    firm_all = bids_repository.firm_schedules(session, day)
    intervals: list[TrackedInterval] = []
    by_interval: dict[int, list[PoolTarget]] = defaultdict(list)
    for row in rows:
        by_interval[row.interval].append(row)
    for t, group in sorted(by_interval.items()):
        firm = {a: by[t] for a, by in firm_all.items() if t in by}
        planned, delivered = response_by_direction(plan.get(t, []), firm, stored.get(t, {}))
        measured = t in stored or (live is not None and t == live)
        planned_of = dict(_per_product(group, sides, planned))
        delivered_of = dict(_per_product(group, sides, delivered))
        for row in group:
            if row.product not in sides:
                continue
            pool = account_id is None
            intervals.append(
                TrackedInterval(
                    product=row.product,
                    interval=t,
                    start=starts[t],
                    awarded_kw=row.awarded_kw if pool else None,
                    target_kw=row.target_kw if pool else None,
                    planned_kw=row.planned_kw if pool else planned_of[row],
                    delivered_kw=delivered_of[row] if measured else None,
                    live=t == live,
                )
            )
    intervals.sort(key=lambda i: (i.product, i.interval))
    return Tracking(
        day=day,
        scope="pool" if account_id is None else "enterprise",
        products=_summaries(intervals, sides, pool=account_id is None),
        intervals=intervals,
    )


def _summaries(
    intervals: Sequence[TrackedInterval], sides: Mapping[str, Direction], *, pool: bool
) -> list[TrackedProduct]:
    hours = INTERVAL.total_seconds() / 3600
    out = []
    for product in sorted({i.product for i in intervals}):
        mine = [i for i in intervals if i.product == product]
        awarded = [i for i in mine if (i.awarded_kw or 0.0) > 0]
        out.append(
            TrackedProduct(
                product=product,
                direction=sides[product],
                awarded_kwh=round(sum(i.awarded_kw or 0.0 for i in mine) * hours, 3)
                if pool
                else None,
                delivered_kwh=round(sum(i.delivered_kw or 0.0 for i in mine) * hours, 3),
                intervals_awarded=len(awarded),
                intervals_within_5pct=sum(
                    1 for i in awarded if within(i.delivered_kw, i.awarded_kw or 0.0)
                )
                if pool
                else None,
            )
        )
    return out


def within(delivered_kw: float | None, awarded_kw: float, share: float = WITHIN) -> bool:
    """Whether delivery is within ±``share`` of the award (a missing measurement is not)."""
    return delivered_kw is not None and abs(delivered_kw - awarded_kw) <= share * awarded_kw
