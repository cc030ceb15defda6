"""Intraday re-dispatch: the pool's targets re-spread over the assets that can still respond.

The day-ahead plan is one LP (`vpp.optimize.disaggregation`); intraday there is no time
for one over 10,000 assets (measured: ~10 s for 1,000 assets x 96 intervals). Re-planning
keeps the LP's plan where it still holds and moves only the difference, interval by
interval in time order, vectorised over the assets:

1. each asset's feasible deviation range at t from its power bounds, its ramp limit from
   the previous interval and its energy state (e[t+1] = a·e[t] + η·p[t]·Δt within
   [e_min, e_max]), relaxed to include the firm schedule (as the LP relaxes it);
2. offline assets go back to their baseline (they take no effort); the others keep their
   planned deviation, clipped to their range;
3. per direction (UP raises net load, DOWN lowers it), the pool's response is compared
   with the target: a surplus is taken back from every responding asset in proportion to
   its response, a deficit is spread over the assets with headroom in proportion to it,
   so every asset gives the same share of its headroom (the LP's fair-share rule,
   min max utilisation, in closed form). New energy-limited effort is first capped at the
   asset's stored energy spread evenly over the rest of the day's target in that
   direction, so early intervals do not drain what later ones need;
4. the energy state advances with the chosen deviation.

The per-minute correction (`rebalance_interval`) is step 3 alone for the interval under
way. Response is measured against the firm schedule: deviation − firm, net-load sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vpp.domain.units import FloatArray
from vpp.optimize.fleet import Fleet

BoolArray = npt.NDArray[np.bool_]
UP, DOWN = 0, 1
"""Row of a (2, T) target or shortfall array: UP raises net load, DOWN lowers it."""
_EPS_KW = 1e-9


@dataclass(frozen=True)
class Rebalanced:
    """One interval's new setpoints and what the pool still misses."""

    deviation_kw: FloatArray
    """(n,) new deviation from baseline per asset (kW, net-load sign)."""
    delivered_kw: FloatArray
    """(2,) expected pool response UP and DOWN after the change (kW, >= 0)."""
    shortfall_kw: FloatArray
    """(2,) target UP and DOWN the pool cannot reach (kW, >= 0)."""


@dataclass(frozen=True)
class Replan:
    """The rest of the day re-planned."""

    deviation_kw: FloatArray
    """(n, T) deviation from baseline per asset and interval (kW, net-load sign)."""
    delivered_kw: FloatArray
    """(2, T) planned pool response UP and DOWN (kW, >= 0)."""
    shortfall_kw: FloatArray
    """(2, T) target the pool cannot reach (kW, >= 0)."""


def rebalance_interval(
    deviation_kw: FloatArray,
    firm_kw: FloatArray,
    lo_kw: FloatArray,
    hi_kw: FloatArray,
    target_kw: FloatArray,
    movable: BoolArray,
    expected_kw: FloatArray | None = None,
    *,
    soft_lo_kw: FloatArray | None = None,
    soft_hi_kw: FloatArray | None = None,
) -> Rebalanced:
    """Move the ``movable`` assets' deviations (n,) so the pool's response meets
    ``target_kw`` = (UP, DOWN) kW in one interval.

    expected_kw: what each asset is taken to deliver as deviation (default: its setpoint);
    assets not movable keep their setpoint and count with their expected deviation (a
    lagging or failed asset counts with what it measurably does). lo_kw/hi_kw: each
    asset's feasible deviation range (kW); soft_lo_kw/soft_hi_kw: a narrower range used
    first for new effort (the energy look-ahead), the full range only if that falls short.
    Fair share: a deficit gives every movable asset the same fraction of its headroom, a
    surplus is taken back in proportion to each asset's response in that direction.
    """
    setpoint = np.asarray(deviation_kw, np.float64).copy()
    firm = np.asarray(firm_kw, np.float64)
    expected = setpoint.copy() if expected_kw is None else np.asarray(expected_kw, np.float64)
    expected = np.where(movable, setpoint, expected)
    target = np.maximum(np.asarray(target_kw, np.float64), 0.0)
    lo, hi = np.asarray(lo_kw, np.float64), np.asarray(hi_kw, np.float64)
    ranges = [(lo, hi)]
    if soft_lo_kw is not None and soft_hi_kw is not None:
        ranges.insert(0, (np.maximum(soft_lo_kw, lo), np.minimum(soft_hi_kw, hi)))
    for direction, sign in ((UP, 1.0), (DOWN, -1.0)):
        response = sign * (expected - firm)
        delivered = float(np.maximum(response, 0.0).sum())
        need = target[direction] - delivered
        if need < -_EPS_KW:
            # Surplus: take it back from the movable assets responding in this direction.
            giving = np.where(movable, np.maximum(sign * (setpoint - firm), 0.0), 0.0)
            total = float(giving.sum())
            if total > 0:
                cut = giving * min(1.0, -need / total)
                setpoint -= sign * cut
                expected = np.where(movable, setpoint, expected)
        elif need > _EPS_KW:
            for low, high in ranges:
                # Headroom in this direction of the assets not pulling the other way.
                room = high - setpoint if sign > 0 else setpoint - low
                room = np.where(movable & (sign * (setpoint - firm) >= -_EPS_KW), room, 0.0)
                room = np.maximum(room, 0.0)
                total = float(room.sum())
                if total <= 0:
                    continue
                share = min(1.0, need / total)
                setpoint += sign * room * share
                need -= total * share
                expected = np.where(movable, setpoint, expected)
                if need <= _EPS_KW:
                    break
    delivered_kw = np.array(
        [float(np.maximum(s * (expected - firm), 0.0).sum()) for s in (1.0, -1.0)]
    )
    return Rebalanced(setpoint, delivered_kw, np.maximum(target - delivered_kw, 0.0))


def replan_fleet(
    fleet: Fleet,
    firm_kw: FloatArray,
    planned_kw: FloatArray,
    target_kw: FloatArray,
    online: BoolArray,
    previous_kw: FloatArray | None = None,
) -> Replan:
    """Re-plan the fleet's remaining horizon (T intervals, the first = the one under way).

    fleet: bounds over the remaining horizon, e_initial_kwh = each asset's current energy
    state; firm_kw, planned_kw: (n, T) firm schedule and current planned deviation (kW);
    target_kw: (2, T) pool target UP and DOWN (kW); online: (n,) assets that may take
    effort (offline ones go back to their baseline); previous_kw: (n,) deviation in the
    interval before the horizon, for ramp limits (default: no ramp limit at the start).
    """
    n, horizon = fleet.n_assets, fleet.horizon
    firm = np.where(online[:, None], np.asarray(firm_kw, np.float64).reshape(n, horizon), 0.0)
    planned = np.where(online[:, None], np.asarray(planned_kw, np.float64).reshape(n, horizon), 0.0)
    target = np.maximum(np.asarray(target_kw, np.float64).reshape(2, horizon), 0.0)
    dt = fleet.interval_hours
    a, eta = fleet.retention, fleet.efficiency
    energy = fleet.e_initial_kwh.copy()
    prev = None if previous_kw is None else np.asarray(previous_kw, np.float64)
    ramp = fleet.ramp_kw
    # Target still to come per direction (from t on), for the energy look-ahead.
    to_come = np.cumsum(target[:, ::-1], axis=1)[:, ::-1]
    deviation = np.zeros((n, horizon))
    delivered = np.zeros((2, horizon))
    shortfall = np.zeros((2, horizon))
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(horizon):
            kept = a * energy
            lo = np.maximum(fleet.lo_kw[:, t], (fleet.e_min_kwh - kept) / (eta * dt))
            hi = np.minimum(fleet.hi_kw[:, t], (fleet.e_max_kwh - kept) / (eta * dt))
            if prev is not None:
                lo = np.maximum(lo, prev - ramp)
                hi = np.minimum(hi, prev + ramp)
            lo = np.minimum(np.minimum(lo, firm[:, t]), hi)
            hi = np.maximum(hi, firm[:, t])
            lo = np.where(online, lo, 0.0)
            hi = np.where(online, hi, 0.0)
            # Look-ahead: new effort from stored energy spends at most the share of the
            # energy room that this interval's target is of the target still to come.
            share = np.where(to_come[:, t] > 0, target[:, t] / np.maximum(to_come[:, t], 1e-12), 1)
            up_room = np.maximum((fleet.e_max_kwh - kept) / (eta * dt) - firm[:, t], 0.0)
            down_room = np.maximum(firm[:, t] - (fleet.e_min_kwh - kept) / (eta * dt), 0.0)
            soft_hi = np.where(np.isfinite(up_room), firm[:, t] + share[UP] * up_room, hi)
            soft_lo = np.where(np.isfinite(down_room), firm[:, t] - share[DOWN] * down_room, lo)
            start = np.clip(planned[:, t], lo, hi)
            step = rebalance_interval(
                start,
                firm[:, t],
                lo,
                hi,
                target[:, t],
                online,
                soft_lo_kw=np.minimum(np.maximum(soft_lo, lo), start),
                soft_hi_kw=np.maximum(np.minimum(soft_hi, hi), start),
            )
            p = np.clip(step.deviation_kw, lo, hi)
            deviation[:, t] = p
            delivered[:, t] = step.delivered_kw
            shortfall[:, t] = step.shortfall_kw
            energy = kept + eta * p * dt
            prev = p
    return Replan(deviation, delivered, shortfall)
