"""Intraday dispatch: new targets, re-planning the rest of the day, the per-minute correction.

The pool's target per product and interval lives in ``pool_targets.target_kw`` (the award
until a grid instruction changes it). Re-planning (`replan`) starts from each asset's
current state — its energy state from the latest telemetry where the reading means the
model's energy state (batteries, shiftable processes), else the planned trajectory — and
moves only what changed (`vpp.optimize.redispatch.replan_fleet`): assets that are offline
(no reading in the last `FRESH`, or a command that failed, expired or was rejected in the
last `TROUBLED_LOOKBACK`) go back to their baseline and take no new effort. Changed
setpoints are commanded at once (those of the interval under way are due now): a command
no sender has taken yet is revised in place (no device has seen its id), any other open
command of the pair becomes ``superseded`` (never sent again) and a new one is queued.

The correction (`correct`, every minute of service time, DESIGN §2 step 4) compares each
dispatched asset's latest reading with its setpoint in the interval under way: offline
assets are written off (back to baseline), lagging ones (off by more than the tolerance)
count with what they measurably do, and the pool's shortfall per direction goes to the
assets that follow their setpoints and have headroom (`rebalance_interval`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import NamedTuple

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp.assets import repository as assets_repository
from vpp.bidding import repository as bids_repository
from vpp.bidding.service import pool_assets
from vpp.dispatch import repository
from vpp.dispatch.service import PlannedSetpoint, enqueue_many
from vpp.domain.assets import BatteryParams, PvParams, ShiftableProcessParams, flexibility_of
from vpp.domain.assets import parse_params as parse_asset_params
from vpp.domain.flexibility import GeneralisedBattery
from vpp.domain.time import (
    INTERVAL,
    INTERVALS_PER_DAY,
    day_bounds_utc,
    interval_of,
    interval_starts_utc,
)
from vpp.domain.units import Direction, FloatArray
from vpp.kit.bulk import bulk_insert
from vpp.kit.errors import Problem
from vpp.models import Asset, PlannedSetpointRow, PoolTarget
from vpp.optimize.fleet import Fleet
from vpp.optimize.redispatch import DOWN, UP, rebalance_interval, replan_fleet
from vpp.ports import MarketPack
from vpp.telemetry import repository as telemetry_repository

FRESH = timedelta(minutes=3)
"""An asset whose last reading is older than this (service time) counts as offline."""
TROUBLED_LOOKBACK = timedelta(minutes=30)
"""An asset with a failed, expired or rejected command this recent counts as offline."""
ACTIVE_KW = 0.5
"""Setpoint changes smaller than this (kW) are not commanded."""
TOLERANCE_KW = 2.0
TOLERANCE_SHARE = 0.05
"""An asset lags when its reading is off its setpoint by more than
max(TOLERANCE_KW, TOLERANCE_SHARE·|deviation|)."""
SEND_AHEAD = timedelta(minutes=1)
MAX_TARGET_KW = 1e7
"""Largest target accepted for one product and interval (kW): 10 GW, beyond any pool."""
REPLAN = "replan"
CORRECTION = "correction"


@dataclass(frozen=True)
class ReplanSummary:
    """What a re-plan did; shortfall per product and interval (kW, from ``from_interval``)."""

    day: date
    from_interval: int
    assets: int
    online: int
    commands: int
    superseded: int
    shortfall_kw: dict[str, dict[int, float]]
    seconds: float


@dataclass(frozen=True)
class CorrectionSummary:
    """One minute's correction of the interval under way."""

    day: date
    interval: int
    assets: int
    offline: int
    lagging: int
    commands: int
    shortfall_kw: dict[str, float]
    seconds: float


class _Ref(NamedTuple):
    """What dispatch needs to address an asset (a tuple: built for every asset each
    minute)."""

    id: uuid.UUID
    account_id: uuid.UUID
    adapter: str


def _ref(asset: Asset) -> _Ref:
    return _Ref(asset.id, asset.account_id, asset.adapter)


@dataclass
class _Pool:
    """The day's plan as arrays over the planned assets (n) and 96 intervals."""

    assets: list[_Ref]
    batteries: list[GeneralisedBattery]
    baseline_kw: FloatArray
    deviation_kw: FloatArray
    lo_kw: FloatArray
    hi_kw: FloatArray
    stored: bool
    """Whether the plan rows exist (False: built from forecasts, rows to be inserted)."""

    @property
    def index(self) -> dict[uuid.UUID, int]:
        return {a.id: i for i, a in enumerate(self.assets)}


def _directions(packs: Mapping[str, MarketPack], products: Sequence[str]) -> dict[str, int]:
    return {
        p: UP if packs[p].limits().side == Direction.UP else DOWN for p in products if p in packs
    }


def _first_interval(day: date, now: datetime) -> int | None:
    """The interval under way on ``day`` (0 if it has not begun; None once it is over)."""
    start, end = day_bounds_utc(day)
    if now >= end:
        return None
    return 0 if now < start else interval_of(now).index


def _targets(session: Session, day: date) -> dict[str, FloatArray]:
    """Target kW per product over the day's 96 intervals."""
    out: dict[str, FloatArray] = {}
    for row in session.scalars(select(PoolTarget).where(PoolTarget.day == day)):
        out.setdefault(row.product, np.zeros(INTERVALS_PER_DAY))[row.interval] = row.target_kw
    return out


def _by_direction(
    targets: Mapping[str, FloatArray], directions: Mapping[str, int], first: int
) -> FloatArray:
    out = np.zeros((2, INTERVALS_PER_DAY - first))
    for product, values in targets.items():
        if product in directions:
            out[directions[product]] += values[first:]
    return out


def _bounds(
    battery: GeneralisedBattery, params: object, baseline: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Deviation bounds (lo, hi) kW around the plan's baseline (`AssetOutlook.bounds_within`
    at the median): PV curtails at most its generation; others span their nominal range."""
    if isinstance(params, PvParams):
        generation = np.clip(-baseline, 0.0, params.ac_capacity_kw)
        return np.zeros_like(baseline), generation if params.curtailable else 0.0 * generation
    lo = battery.baseline_kw + battery.p_min_kw - baseline
    hi = battery.baseline_kw + battery.p_max_kw - baseline
    return np.minimum(lo, 0.0), np.maximum(hi, 0.0)


def _load_pool(session: Session, day: date) -> tuple[_Pool, list[Asset]]:
    """The stored plan of ``day``, or (none stored) the forecasts with no deviation; and
    the planned assets' rows."""
    active = {a.id: a for a in assets_repository.list_assets(session, None, None, 1_000_000)}
    stored = repository.plan_matrix(session, day)
    if not stored.asset_ids:
        forecast = pool_assets(session, day, 0.1)
        assets = [active[p.asset_id] for p in forecast]
        n = len(assets)
        pool = _Pool(
            [_ref(a) for a in assets],
            [p.battery for p in forecast],
            np.stack([p.baseline_kw for p in forecast]) if n else np.zeros((0, 96)),
            np.zeros((n, INTERVALS_PER_DAY)),
            np.stack([p.lo_kw for p in forecast]) if n else np.zeros((0, 96)),
            np.stack([p.hi_kw for p in forecast]) if n else np.zeros((0, 96)),
            stored=False,
        )
        return pool, assets
    keep = np.array([a in active for a in stored.asset_ids], dtype=bool)
    assets = [active[a] for a in stored.asset_ids if a in active]
    baseline = stored.baseline_kw[keep]
    deviation = stored.deviation_kw[keep]
    n = len(assets)
    params = [parse_asset_params(a.kind, a.params) for a in assets]
    batteries = [flexibility_of(p) for p in params]
    lo, hi = np.zeros((n, INTERVALS_PER_DAY)), np.zeros((n, INTERVALS_PER_DAY))
    for i, (battery, p) in enumerate(zip(batteries, params, strict=True)):
        lo[i], hi[i] = _bounds(battery, p, baseline[i])
    return _Pool([_ref(a) for a in assets], batteries, baseline, deviation, lo, hi, True), assets


def _firm(session: Session, day: date, index: Mapping[uuid.UUID, int]) -> FloatArray:
    """(n, 96) firm kW of the pool's assets (``index``: id -> row)."""
    firm = np.zeros((len(index), INTERVALS_PER_DAY))
    ids, stored = bids_repository.firm_matrix(session, day)
    rows = np.array([index.get(a, -1) for a in ids], dtype=np.intp)
    firm[rows[rows >= 0]] = stored[rows >= 0]
    return firm


def _online(
    session: Session,
    assets: Sequence[_Ref],
    readings: Mapping[uuid.UUID, telemetry_repository.LatestReading],
    day_started: bool,
    now: datetime,
) -> np.ndarray:
    """(n,) assets that may take effort: a fresh reading (once the day is under way) and no
    recently failed, expired or rejected command."""
    troubled = repository.troubled_assets(session, now - TROUBLED_LOOKBACK)
    return np.array(
        [a.id not in troubled and (not day_started or a.id in readings) for a in assets],
        dtype=bool,
    )


def _energy_now(
    pool: _Pool,
    assets: Sequence[Asset],
    fleet: Fleet,
    first: int,
    readings: Mapping[uuid.UUID, telemetry_repository.LatestReading],
) -> FloatArray:
    """Energy state (kWh) at the start of interval ``first``: the planned trajectory, or the
    latest reading where it measures the model's state (battery: stored kWh; shiftable
    process: buffer kWh minus its initial fill, the model's zero)."""
    energy = fleet.e_initial_kwh.copy()
    for t in range(first):
        energy = fleet.retention * energy + fleet.efficiency * pool.deviation_kw[:, t] * 0.25
    for i, asset in enumerate(assets):
        reading = readings.get(asset.id)
        if reading is None or reading.energy_kwh is None:
            continue
        params = parse_asset_params(asset.kind, asset.params)
        if isinstance(params, BatteryParams):
            energy[i] = reading.energy_kwh
        elif isinstance(params, ShiftableProcessParams):
            energy[i] = reading.energy_kwh - params.storage_initial_fraction * params.storage_kwh
    return np.clip(energy, fleet.e_min_kwh, fleet.e_max_kwh)


def replan(
    session: Session,
    packs: Mapping[str, MarketPack],
    day: date,
    now: datetime,
    *,
    source: str = REPLAN,
) -> ReplanSummary:
    """Re-plan ``day`` from the interval under way with the current targets and assets'
    state; command the changed setpoints (`_requeue`; not committed). Shortfall per
    product and interval is stored in ``pool_targets``."""
    started = time.perf_counter()
    first = _first_interval(day, now)
    empty = ReplanSummary(day, first or 0, 0, 0, 0, 0, {}, 0.0)
    if first is None:
        return empty
    pool, rows = _load_pool(session, day)
    n = len(pool.assets)
    if n == 0:
        return empty
    targets = _targets(session, day)
    directions = _directions(packs, list(targets))
    index = pool.index
    firm = _firm(session, day, index)
    day_start, _ = day_bounds_utc(day)
    readings = telemetry_repository.latest_readings(session, now - FRESH, now)
    online = _online(session, pool.assets, readings, now >= day_start, now)
    fleet = Fleet.from_batteries(
        [str(a.id) for a in pool.assets], pool.batteries, lo_kw=pool.lo_kw, hi_kw=pool.hi_kw
    )
    energy = _energy_now(pool, rows, fleet, first, readings)
    rest = replace(
        fleet,
        lo_kw=fleet.lo_kw[:, first:],
        hi_kw=fleet.hi_kw[:, first:],
        e_initial_kwh=energy,
    )
    previous = pool.deviation_kw[:, first - 1] if first > 0 else None
    result = replan_fleet(
        rest,
        firm[:, first:],
        pool.deviation_kw[:, first:],
        _by_direction(targets, directions, first),
        online,
        previous,
    )
    new = pool.deviation_kw.copy()
    new[:, first:] = result.deviation_kw
    changed = np.zeros_like(new, dtype=bool)
    changed[:, first:] = np.abs(new[:, first:] - pool.deviation_kw[:, first:]) >= ACTIVE_KW
    changed[~online, first:] = np.abs(pool.deviation_kw[~online, first:]) > 0
    new = np.where(changed, new, pool.deviation_kw)
    _store_plan(session, day, pool, new, changed)
    superseded, commands = _requeue(session, pool, new, changed, online, day, now, source)
    shortfall = _store_targets(
        session, day, targets, directions, result.shortfall_kw, first, INTERVALS_PER_DAY
    )
    return ReplanSummary(
        day=day,
        from_interval=first,
        assets=n,
        online=int(online.sum()),
        commands=commands,
        superseded=superseded,
        shortfall_kw=shortfall,
        seconds=time.perf_counter() - started,
    )


def _store_plan(
    session: Session, day: date, pool: _Pool, deviation: FloatArray, changed: np.ndarray
) -> None:
    setpoint = pool.baseline_kw + deviation
    if not pool.stored:
        bulk_insert(
            session,
            PlannedSetpointRow.__table__,  # type: ignore[arg-type]
            ("day", "asset_id", "interval", "account_id", "baseline_kw", "deviation_kw",
             "setpoint_kw"),
            [
                (day, a.id, t, a.account_id, float(pool.baseline_kw[i, t]),
                 float(deviation[i, t]), float(setpoint[i, t]))
                for i, a in enumerate(pool.assets)
                for t in range(INTERVALS_PER_DAY)
            ],
        )  # fmt: skip
        return
    repository.update_plan(session, day, [a.id for a in pool.assets], changed, deviation, setpoint)


def _requeue(
    session: Session,
    pool: _Pool,
    deviation: FloatArray,
    changed: np.ndarray,
    online: np.ndarray,
    day: date,
    now: datetime,
    source: str,
) -> tuple[int, int]:
    """Command the changed (asset, interval) pairs: the new setpoints of online assets
    revise the commands not yet sent in place and are queued where none is left; every
    other open command of a changed pair is superseded. Returns (superseded, commands
    revised or queued)."""
    starts = [s.to_pydatetime() for s in interval_starts_utc(day)]
    if not changed.any():
        return 0, 0
    ids = [a.id for a in pool.assets]
    ends = np.array([start + INTERVAL > now for start in starts])
    wanted = changed & online[:, None] & ends[None, :]
    superseded = repository.supersede_open(
        session,
        ids,
        changed,
        starts,
        now,
        f"replaced by a newer setpoint ({source})",
        keep_unsent=wanted,
    )
    setpoint = np.round(pool.baseline_kw + deviation, 3)
    send_at = [max(now, start - SEND_AHEAD) for start in starts]
    revised = repository.revise_unsent(session, ids, wanted, setpoint, starts, send_at, source)
    rows, cols = np.nonzero(wanted & ~revised)
    planned = [
        PlannedSetpoint(
            asset_id=pool.assets[i].id,
            account_id=pool.assets[i].account_id,
            adapter=pool.assets[i].adapter,
            interval_start=starts[t],
            power_kw=float(setpoint[i, t]),
            expires_at=starts[t] + INTERVAL,
            send_at=send_at[t],
        )
        for i, t in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    enqueue_many(session, planned, now, source)
    return superseded, int(wanted.sum())


def _store_targets(
    session: Session,
    day: date,
    targets: Mapping[str, FloatArray],
    directions: Mapping[str, int],
    shortfall_by_direction: FloatArray,
    first: int,
    last: int,
) -> dict[str, dict[int, float]]:
    """Split each direction's shortfall (2, last - first) among its products in proportion
    to their targets; store planned and shortfall kW; return the shortfall by product."""
    totals = _by_direction(targets, directions, first)[:, : last - first]
    out: dict[str, dict[int, float]] = defaultdict(dict)
    rows = session.scalars(
        select(PoolTarget).where(
            PoolTarget.day == day, PoolTarget.interval >= first, PoolTarget.interval < last
        )
    )
    for row in rows:
        if row.product not in directions:
            continue
        d, t = directions[row.product], row.interval - first
        share = row.target_kw / totals[d, t] if totals[d, t] > 0 else 0.0
        short = round(float(shortfall_by_direction[d, t] * share), 3)
        row.shortfall_kw = short
        row.planned_kw = round(max(row.target_kw - short, 0.0), 3)
        out[row.product][row.interval] = short
    session.flush()
    return dict(out)


def apply_targets(
    session: Session,
    packs: Mapping[str, MarketPack],
    day: date,
    product: str,
    target_kw: Mapping[int, float],
    now: datetime,
) -> dict[int, float]:
    """Set the pool's target for ``product`` (kW, >= 0, in the product's direction) in the
    given intervals of ``day``, re-plan the rest of the day from the current interval with
    the service's current knowledge, queue the changed setpoints (sent at once for the
    current interval), and return the feasible kW per given interval (target - shortfall).
    Does not commit.

    Refused (422, nothing changed): an unknown product, an interval outside 0..95 or
    already over, a negative, non-finite or absurd (> `MAX_TARGET_KW`) target.
    """
    if product not in packs:
        raise Problem(
            422,
            f"product: unknown product {product!r}",
            slug="validation",
            errors=[{"field": "product", "rule": "known_product", "message": product}],
        )
    starts = interval_starts_utc(day)
    for interval, kw in target_kw.items():
        if not 0 <= interval < INTERVALS_PER_DAY:
            raise _invalid("intervals", "interval_range", f"interval {interval} not in 0..95")
        if starts[interval].to_pydatetime() + INTERVAL <= now:
            raise _invalid("intervals", "not_past", f"interval {interval} of {day} is over")
        if not math.isfinite(kw) or kw < 0 or kw > MAX_TARGET_KW:
            raise _invalid(
                "target_kw", "target_range", f"target must lie in [0, {MAX_TARGET_KW:g}] kW"
            )
    existing = {
        row.interval: row
        for row in session.scalars(
            select(PoolTarget).where(PoolTarget.day == day, PoolTarget.product == product)
        )
    }
    for interval, kw in target_kw.items():
        row = existing.get(interval)
        if row is None:
            session.add(
                PoolTarget(
                    day=day,
                    product=product,
                    interval=interval,
                    awarded_kw=0.0,
                    target_kw=float(kw),
                    planned_kw=0.0,
                    shortfall_kw=0.0,
                )
            )
        else:
            row.target_kw = float(kw)
    session.flush()
    summary = replan(session, packs, day, now, source=REPLAN)
    shortfall = summary.shortfall_kw.get(product, {})
    return {
        interval: round(max(float(kw) - shortfall.get(interval, float(kw)), 0.0), 3)
        for interval, kw in target_kw.items()
    }


def _invalid(field: str, rule: str, message: str) -> Problem:
    return Problem(
        422,
        f"{field}: {message}",
        slug="validation",
        errors=[{"field": field, "rule": rule, "message": message}],
    )


def correct(session: Session, packs: Mapping[str, MarketPack], now: datetime) -> CorrectionSummary:
    """Re-dispatch the pool's shortfall in the interval under way (not committed).

    Offline assets are written off (deviation 0, open commands superseded); an asset whose
    latest reading is off its setpoint by more than the tolerance counts with its
    measured deviation and keeps its setpoint; the rest take the difference to the
    target within their power range (`rebalance_interval`), as new commands due now.
    """
    started = time.perf_counter()
    current = interval_of(now)
    day, t = current.day, current.index
    targets = {
        row.product: row
        for row in session.scalars(
            select(PoolTarget).where(PoolTarget.day == day, PoolTarget.interval == t)
        )
        if row.product in packs
    }
    directions = _directions(packs, list(targets))
    target = np.zeros(2)
    for product, row in targets.items():
        target[directions[product]] += row.target_kw
    rows = repository.plan_rows(session, day, t, t)
    if not rows or not target.any():
        return CorrectionSummary(day, t, 0, 0, 0, 0, {}, time.perf_counter() - started)
    active = repository.active_assets(session)
    rows = [r for r in rows if r[0] in active]
    found = [active[r[0]] for r in rows]
    assets = [_Ref(a.id, a.account_id, a.adapter) for a in found]
    n = len(assets)
    baseline = np.array([r[2] for r in rows])
    deviation = np.array([r[3] for r in rows])
    firm_ids, firm_now = bids_repository.firm_matrix(session, day, t, t)
    firm_of = dict(zip(firm_ids, firm_now[:, 0].tolist(), strict=True))
    firm = np.array([firm_of.get(a.id, 0.0) for a in assets])
    readings = telemetry_repository.latest_readings(session, now - FRESH, now)
    online = _online(session, assets, readings, True, now)
    measured = np.array([readings[a.id].power_kw if a.id in readings else np.nan for a in assets])
    # Deviation bounds of each asset around the plan's baseline, from its nominal range.
    nominal = np.array([a.baseline_kw for a in found])
    lo = np.minimum(nominal - np.array([a.down_kw for a in found]) - baseline, 0.0)
    hi = np.maximum(nominal + np.array([a.up_kw for a in found]) - baseline, 0.0)
    pv = np.array([a.kind == "pv" for a in found])
    lo = np.where(pv, 0.0, lo)
    hi = np.where(pv, np.clip(-baseline, 0.0, None), hi)
    actual = np.where(np.isnan(measured), baseline, measured) - baseline
    tolerance = np.maximum(TOLERANCE_KW, TOLERANCE_SHARE * np.abs(deviation))
    lagging = online & (np.abs(actual - deviation) > tolerance)
    written_off = ~online & (np.abs(deviation) > 0)
    start_dev = np.where(online, deviation, 0.0)
    expected = np.where(lagging, actual, start_dev)
    step = rebalance_interval(start_dev, firm, lo, hi, target, online & ~lagging, expected)
    new = step.deviation_kw
    changed = (online & (np.abs(new - deviation) >= ACTIVE_KW)) | written_off
    new = np.where(changed, new, deviation)
    pool = _Pool(
        assets,
        [],
        np.tile(baseline[:, None], (1, INTERVALS_PER_DAY)),
        np.zeros((n, INTERVALS_PER_DAY)),
        np.zeros((n, INTERVALS_PER_DAY)),
        np.zeros((n, INTERVALS_PER_DAY)),
        stored=True,
    )
    full_new = np.zeros((n, INTERVALS_PER_DAY))
    full_new[:, t] = new
    full_changed = np.zeros((n, INTERVALS_PER_DAY), dtype=bool)
    full_changed[:, t] = changed
    _store_plan(session, day, pool, full_new, full_changed)
    _, commands = _requeue(session, pool, full_new, full_changed, online, day, now, CORRECTION)
    totals = {d: sum(r.target_kw for p, r in targets.items() if directions[p] == d) for d in (0, 1)}
    shortfall: dict[str, float] = {}
    for product, row in targets.items():
        d = directions[product]
        share = row.target_kw / totals[d] if totals[d] > 0 else 0.0
        shortfall[product] = round(float(step.shortfall_kw[d] * share), 3)
        row.shortfall_kw = shortfall[product]
        row.planned_kw = round(max(row.target_kw - shortfall[product], 0.0), 3)
    session.flush()
    return CorrectionSummary(
        day=day,
        interval=t,
        assets=n,
        offline=int((~online).sum()),
        lagging=int(lagging.sum()),
        commands=commands,
        shortfall_kw=shortfall,
        seconds=time.perf_counter() - started,
    )
