"""The day-ahead dispatch plan: awards and firm schedules into per-asset setpoint commands.

After clearing (DESIGN §2, step 3) the day's awards are split among the assets by the
disaggregation (`vpp.optimize.disaggregation`) on top of the firm schedules and the
forecast baselines the bids relied on, within every asset's limits, each asset capped at
what it offered. The plan is stored, the pool's shortfall per product and interval is
recorded (never silently dropped), and one setpoint command per asset and active
interval is written to the outbox, to be sent a minute before its interval starts and to
expire at its end, so a device falls back to its own schedule when the VPP goes silent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vpp.bidding import repository as bids_repository
from vpp.bidding.planner import PoolAsset, fleet_of
from vpp.bidding.schemas import BidState
from vpp.bidding.service import planning_pool
from vpp.dispatch.service import PlannedBatch, enqueue_batch
from vpp.domain.time import INTERVAL, INTERVALS_PER_DAY, interval_starts_utc
from vpp.domain.units import Direction
from vpp.kit import daytable
from vpp.models import Asset, AwardRow, BidRow, PlannedSetpointRow, PoolTarget
from vpp.optimize.disaggregation import plan_setpoints
from vpp.optimize.problem import SolverOptions, SolveStatus
from vpp.ports import MarketPack

SEND_AHEAD = timedelta(minutes=1)
ACTIVE_KW = 0.5
"""Deviations smaller than this (kW) are not commanded: the asset follows its baseline."""
SOURCE = "plan"
SOLVER = SolverOptions(time_limit_s=60.0, lp_method="highs-ipm")


@dataclass(frozen=True)
class PlanSummary:
    day: date
    assets: int
    commands: int
    awarded_kwh: float
    shortfall_kwh: float
    solve_status: SolveStatus | None = None
    """The disaggregation's outcome (None: nothing to plan): its LP's, or for a large
    fleet the worst of the decomposition's repair LPs. Anything but OPTIMAL is a plan to
    look at: FEASIBLE hit the time limit, the others planned the firm schedules alone
    (of the assets concerned) and report their share of the awards as shortfall."""


def plan_day(
    session: Session, packs: Mapping[str, MarketPack], day: date, now: datetime
) -> PlanSummary:
    """Plan ``day`` from its awards and firm schedules and queue the setpoints (not committed).

    The assets' baselines and bounds are the ones stored when the bids were drafted
    (`planning_pool`): the plan builds on what the offers relied on, and the pool is not
    forecast again.

    Planning a day twice replaces its plan; commands already queued are left to run.
    """
    bids = [
        b
        for b in bids_repository.list_bids(
            session, None, 1000, day=day, states=[BidState.AWARDED.value]
        )
        if b.product in packs
    ]
    risk = bids[0].risk_quantile if bids else 0.1
    # In id order: the plan's rows and commands then reach the tables' keys in order
    # (appended to the B-trees instead of scattered over them: a fifth less time).
    assets = sorted(planning_pool(session, day, risk), key=lambda a: a.asset_id)
    if not assets:
        return PlanSummary(day, 0, 0, 0.0, 0.0)
    index = {a.asset_id: i for i, a in enumerate(assets)}
    n, horizon = len(assets), INTERVALS_PER_DAY
    firm = _firm_matrix(session, day, index, horizon)
    award, offered, directions = _awards(session, bids, index, horizon, packs)
    plan = plan_setpoints(fleet_of(assets), firm, award, directions, SOLVER, offered_kw=offered)
    deviation = plan.setpoint_kw
    baseline = np.stack([a.baseline_kw for a in assets])
    setpoint = baseline + deviation
    session.execute(delete(PlannedSetpointRow).where(PlannedSetpointRow.day == day))
    session.execute(delete(PoolTarget).where(PoolTarget.day == day))
    _store_plan(session, day, assets, baseline, deviation, setpoint)
    for k, bid in enumerate(bids):
        for t in np.flatnonzero(award[k] > 0).tolist():
            session.add(
                PoolTarget(
                    day=day,
                    product=bid.product,
                    interval=t,
                    awarded_kw=float(award[k, t]),
                    target_kw=float(award[k, t]),
                    planned_kw=float(award[k, t] - plan.shortfall_kw[k, t]),
                    shortfall_kw=float(plan.shortfall_kw[k, t]),
                )
            )
    commands = _queue(session, assets, setpoint, deviation, day, now)
    hours = 24.0 / horizon
    return PlanSummary(
        day=day,
        assets=n,
        commands=commands,
        awarded_kwh=round(float(award.sum()) * hours, 3),
        shortfall_kwh=round(float(plan.shortfall_kw.sum()) * hours, 3),
        solve_status=plan.status,
    )


def _store_plan(
    session: Session,
    day: date,
    assets: list[PoolAsset],
    baseline: np.ndarray,
    deviation: np.ndarray,
    setpoint: np.ndarray,
) -> None:
    """One planned row per asset and interval (n x 96 rows: 960,000 at 10,000 assets)."""
    daytable.write_matrix(
        session,
        PlannedSetpointRow.__table__,  # type: ignore[arg-type]
        {"day": day},
        [a.asset_id for a in assets],
        [a.account_id for a in assets],
        {"baseline_kw": baseline, "deviation_kw": deviation, "setpoint_kw": setpoint},
    )


def _firm_matrix(
    session: Session, day: date, index: Mapping[uuid.UUID, int], horizon: int
) -> np.ndarray:
    """(n, T) firm kW of the planned assets (0 where none is stored)."""
    firm = np.zeros((len(index), horizon))
    ids, stored = bids_repository.firm_matrix(session, day, 0, horizon - 1)
    rows = np.array([index.get(a, -1) for a in ids], dtype=np.intp)
    firm[rows[rows >= 0]] = stored[rows >= 0]
    return firm


def _awards(
    session: Session,
    bids: list[BidRow],
    index: Mapping[uuid.UUID, int],
    horizon: int,
    packs: Mapping[str, MarketPack],
) -> tuple[np.ndarray, np.ndarray, list[Direction]]:
    """(K, T) awarded kW, (n, K, T) what each asset offered, and each product's side."""
    award = np.zeros((len(bids), horizon))
    offered = np.zeros((len(index), len(bids), horizon))
    for k, bid in enumerate(bids):
        for row in session.scalars(select(AwardRow).where(AwardRow.bid_id == bid.id)):
            award[k, row.interval] += row.quantity_kw
        ids, kw = bids_repository.offered_matrix(session, bid.id)
        rows = np.array([index.get(a, -1) for a in ids], dtype=np.intp)
        offered[rows[rows >= 0], k] = kw[rows >= 0]
    directions = [packs[bid.product].limits().side for bid in bids]
    return award, offered, directions


def _queue(
    session: Session,
    assets: list[PoolAsset],
    setpoint: np.ndarray,
    deviation: np.ndarray,
    day: date,
    now: datetime,
) -> int:
    """Queue a command per asset and interval whose deviation is commanded (`ACTIVE_KW`)
    and whose interval has not ended, sent `SEND_AHEAD` of its start."""
    adapters = {
        asset_id: adapter for asset_id, adapter in session.execute(select(Asset.id, Asset.adapter))
    }
    starts = [s.to_pydatetime() for s in interval_starts_utc(day)]
    open_ = np.array([start + INTERVAL > now for start in starts])
    asset, interval = np.nonzero((np.abs(deviation) >= ACTIVE_KW) & open_[None, :])
    batch = PlannedBatch(
        asset_ids=[a.asset_id for a in assets],
        account_ids=[a.account_id for a in assets],
        adapters=[adapters[a.asset_id] for a in assets],
        starts=starts,
        send_at=[max(now, start - SEND_AHEAD) for start in starts],
        asset=asset,
        interval=interval,
        power_kw=np.round(setpoint[asset, interval], 3),
    )
    return enqueue_batch(session, batch, now, SOURCE)


def read_plan(
    session: Session, day: date, account_id: uuid.UUID | None
) -> tuple[list[PoolTarget], dict[uuid.UUID, list[PlannedSetpointRow]]]:
    """The day's pool targets (all callers with ``account_id`` None only) and planned
    setpoints by asset (of one enterprise if ``account_id`` is given)."""
    query = select(PlannedSetpointRow).where(PlannedSetpointRow.day == day)
    if account_id is not None:
        query = query.where(PlannedSetpointRow.account_id == account_id)
    by_asset: dict[uuid.UUID, list[PlannedSetpointRow]] = {}
    for row in session.scalars(
        query.order_by(PlannedSetpointRow.asset_id, PlannedSetpointRow.interval)
    ):
        by_asset.setdefault(row.asset_id, []).append(row)
    targets = (
        []
        if account_id is not None
        else list(
            session.scalars(
                select(PoolTarget)
                .where(PoolTarget.day == day)
                .order_by(PoolTarget.product, PoolTarget.interval)
            )
        )
    )
    return targets, by_asset
