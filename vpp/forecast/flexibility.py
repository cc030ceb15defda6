"""Flexibility envelopes: per asset and interval, how far net load can move around the baseline.

Every asset is a `GeneralisedBattery` deviation p around its baseline (DESIGN §3):
lo[t] <= p[t] <= hi[t], e[t+1] = a·e[t] + η·p[t]·Δt within [e_min, e_max], ramp limits.
The power bounds alone say what one interval could do; the energy state couples the
intervals: a 100 kWh battery with 50 kW cannot sell 50 kW for 96 intervals. Two envelopes
are computed, both as non-negative `up_kw` (raise net load) and `down_kw` (lower it):

**Guaranteed (`up_kw`, `down_kw`).** A box such that *every* schedule with
-down_kw[t] <= p[t] <= up_kw[t], in any combination over the horizon, keeps the energy state
within its bounds and respects the ramp limit. Worst cases are "up in every interval" and
"down in every interval", so the box must satisfy, for every t,
    idle[t] + η·Δt·Σ_{s<t} a^(t-1-s)·up[s]   <= e_max
    idle[t] - η·Δt·Σ_{s<t} a^(t-1-s)·down[s] >= e_min
with idle[t] = a^t·e_initial the energy path when the asset follows its baseline. Of the
many such boxes this module takes the *level* one: the largest power U the asset can hold
in every interval of the horizon (capped by each interval's power bound), found by
bisection. Ramp limits are honoured by capping both directions at half the ramp (any two
points in consecutive boxes then differ by at most the ramp).

**Single call (`up_call_kw`, `down_call_kw`).** For each interval t, the largest constant
power the asset could hold for `call_intervals` (default 4 = 1 h, the usual minimum response
duration, market-rules-china.md §b2/b4) starting at t, from the idle energy path, if nothing
was called before. This is what a one-off DR event could get; it is *not* jointly feasible.

**Pooling.** Summing guaranteed boxes over assets is safe: any pool schedule inside the
summed box can be split among assets in proportion to their boxes and each part stays in
its own box. It is conservative, since the pool's true feasible set is larger. Summing
single-call envelopes, or summing the power bounds alone, *over-states*: (1) it assumes
every interval can be called at full power, whereas energy spent earlier is gone; (2) it
assumes the assets' energy limits bind at the same time in the way each was rated; (3)
summing per-asset quantiles of baseline-dependent envelopes (a curtailable load can only
shed what it would have drawn) is not the quantile of the sum. The guard: bidding keeps
each asset's energy constraints in its LP (DESIGN §3, `vpp.optimize`), using these
envelopes as bounds and for display, never as the only constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vpp.domain import INTERVAL_HOURS, INTERVALS_PER_DAY, GeneralisedBattery, split_flexibility
from vpp.forecast.calendar import FloatArray

_BISECTION_STEPS = 60


@dataclass(frozen=True)
class FlexEnvelope:
    """Flexibility of one asset over a horizon of intervals (kW, all >= 0)."""

    up_kw: FloatArray
    """Guaranteed upward flexibility per interval (jointly feasible box)."""
    down_kw: FloatArray
    """Guaranteed downward flexibility per interval (jointly feasible box)."""
    up_call_kw: FloatArray
    """Upward power one call of `call_intervals` starting at t could hold (not additive)."""
    down_call_kw: FloatArray
    """Downward power one call of `call_intervals` starting at t could hold (not additive)."""
    idle_energy_kwh: FloatArray
    """Energy state when following the baseline, at the start of each interval."""
    idle_feasible: bool
    """False if following the baseline alone leaves the energy bounds (e.g. self-discharge
    below e_min): the guaranteed box is then zero in that direction."""


@dataclass(frozen=True)
class PoolEnvelope:
    """Aggregate flexibility of several assets (kW)."""

    up_kw: FloatArray
    """Sum of guaranteed boxes: safe (proportional split), conservative."""
    down_kw: FloatArray
    up_call_kw: FloatArray
    """Sum of single-call envelopes: over-states (module docstring), for display only."""
    down_call_kw: FloatArray
    assets: int


def deviation_bounds(
    battery: GeneralisedBattery,
    baseline_kw: FloatArray | None = None,
    horizon: int = INTERVALS_PER_DAY,
) -> tuple[FloatArray, FloatArray]:
    """Per-interval deviation bounds (lo, hi) in kW around a forecast baseline.

    The asset's absolute net-load range is [baseline_kw + p_min, baseline_kw + p_max] of its
    nominal parameterisation; around a forecast `baseline_kw[t]` the deviation can go from
    that range's bottom to its top. Without a forecast the nominal bounds apply. For PV
    curtailment (whose range moves with the sun) use `pv_curtailment_bounds`; for a band of
    baseline quantiles, `robust_bounds`.
    """
    if baseline_kw is None:
        return np.full(horizon, battery.p_min_kw), np.full(horizon, battery.p_max_kw)
    base = np.asarray(baseline_kw, dtype=np.float64)
    low = battery.baseline_kw + battery.p_min_kw
    high = battery.baseline_kw + battery.p_max_kw
    return low - base, high - base


def robust_bounds(
    battery: GeneralisedBattery, baseline_low_kw: FloatArray, baseline_high_kw: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Deviation bounds that hold for any baseline between two quantiles (e.g. P10, P90).

    Lowering net load is limited most when the baseline is low (a load cannot shed what it
    would not have drawn), raising it when the baseline is high: lo comes from the low
    quantile, hi from the high one. Feed the result to `envelope` for a flexibility
    envelope that is still deliverable if the baseline lands anywhere in the band.
    """
    lo, _ = deviation_bounds(battery, baseline_low_kw)
    _, hi = deviation_bounds(battery, baseline_high_kw)
    return lo, hi


def pv_curtailment_bounds(
    generation_kw: FloatArray, ac_capacity_kw: float, curtailable: bool = True
) -> tuple[FloatArray, FloatArray]:
    """Deviation bounds of a PV plant: curtailing raises net load by up to its generation."""
    gen = np.clip(np.asarray(generation_kw, dtype=np.float64), 0.0, ac_capacity_kw)
    hi = gen if curtailable else np.zeros_like(gen)
    return np.zeros_like(gen), hi


def _discounted_cumsum(power: FloatArray, retention: float) -> FloatArray:
    """c[t] = Σ_{s<t} a^(t-1-s)·power[s] for t = 0..T (length T + 1), along the last axis."""
    horizon = power.shape[-1]
    out = np.zeros((*power.shape[:-1], horizon + 1))
    acc = np.zeros(power.shape[:-1])
    for t in range(horizon):
        acc = acc * retention + power[..., t]
        out[..., t + 1] = acc
    return out


def _level_box(cap: FloatArray, headroom: FloatArray, retention: float, scale: float) -> FloatArray:
    """min(cap[t], U) with the largest U such that scale·cumsum <= headroom at every t."""
    if not np.isfinite(headroom).any():
        return cap.copy()
    if (headroom < 0).any():
        return np.zeros_like(cap)
    lo, hi = 0.0, float(cap.max(initial=0.0))
    if hi <= 0.0:
        return np.zeros_like(cap)

    def fits(level: float) -> bool:
        used = scale * _discounted_cumsum(np.minimum(cap, level), retention)
        return bool(np.all(used <= headroom + 1e-9))

    if fits(hi):
        return cap.copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return np.minimum(cap, lo)


def _single_call(
    cap: FloatArray,
    room_kwh: FloatArray,
    retention: float,
    scale: float,
    call_intervals: int,
) -> FloatArray:
    """Per start t: largest constant power (<= cap over the call) held for call_intervals."""
    horizon = cap.size
    out = np.zeros(horizon)
    for t in range(horizon):
        end = min(t + call_intervals, horizon)
        power_cap = float(cap[t:end].min())
        if power_cap <= 0.0:
            continue
        # After n intervals at power P from idle: energy moved = scale·P·Σ_{i<n} a^i,
        # measured against the room left at the end of each of those intervals.
        steps = np.arange(1, end - t + 1)
        moved_per_kw = (
            scale * (1 - retention**steps) / (1 - retention) if retention < 1 else (scale * steps)
        )
        room = room_kwh[t + steps]
        if not np.isfinite(room).any():
            out[t] = power_cap
            continue
        limit = np.min(np.where(np.isfinite(room), room / moved_per_kw, np.inf))
        out[t] = max(0.0, min(power_cap, float(limit)))
    return out


def envelope(
    battery: GeneralisedBattery,
    bounds_kw: tuple[FloatArray, FloatArray] | None = None,
    *,
    horizon: int = INTERVALS_PER_DAY,
    call_intervals: int = 4,
) -> FlexEnvelope:
    """Flexibility envelopes of one asset over `horizon` intervals (module docstring).

    bounds_kw: per-interval deviation bounds (lo, hi) in kW from `deviation_bounds` or
    `pv_curtailment_bounds`; default the battery's constant p_min_kw / p_max_kw. The energy
    state starts at `battery.e_initial_kwh`; Δt = 0.25 h.
    """
    lo, hi = bounds_kw if bounds_kw is not None else deviation_bounds(battery, None, horizon)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if lo.shape != (horizon,) or hi.shape != (horizon,):
        raise ValueError(f"bounds must have shape ({horizon},)")
    up_cap, down_cap = split_flexibility(lo, hi)
    if battery.ramp_kw_per_interval is not None:
        half = battery.ramp_kw_per_interval / 2
        up_cap, down_cap = np.minimum(up_cap, half), np.minimum(down_cap, half)

    a = battery.retention_per_interval
    idle = battery.e_initial_kwh * a ** np.arange(horizon + 1, dtype=np.float64)
    scale = battery.efficiency * INTERVAL_HOURS
    with np.errstate(invalid="ignore"):
        room_up = battery.e_max_kwh - idle  # (horizon + 1,), may be +inf
        room_down = idle - battery.e_min_kwh
    idle_ok = bool(np.all(room_up >= -1e-9) and np.all(room_down >= -1e-9))
    up = _level_box(up_cap, room_up, a, scale)
    down = _level_box(down_cap, room_down, a, scale)
    up_call = _single_call(up_cap, room_up, a, scale, call_intervals)
    down_call = _single_call(down_cap, room_down, a, scale, call_intervals)
    return FlexEnvelope(up, down, up_call, down_call, idle[:-1], idle_ok)


def pool_envelope(envelopes: Sequence[FlexEnvelope]) -> PoolEnvelope:
    """Aggregate envelopes: guaranteed boxes add safely; single-call envelopes over-state."""
    if not envelopes:
        raise ValueError("no envelopes to pool")
    return PoolEnvelope(
        up_kw=np.sum([e.up_kw for e in envelopes], axis=0),
        down_kw=np.sum([e.down_kw for e in envelopes], axis=0),
        up_call_kw=np.sum([e.up_call_kw for e in envelopes], axis=0),
        down_call_kw=np.sum([e.down_call_kw for e in envelopes], axis=0),
        assets=len(envelopes),
    )


def simulate_energy(battery: GeneralisedBattery, power_kw: FloatArray) -> FloatArray:
    """Energy state path e[0..T] (kWh) of the deviation schedule `power_kw` (kW) per the model."""
    a, scale = battery.retention_per_interval, battery.efficiency * INTERVAL_HOURS
    power = np.asarray(power_kw, dtype=np.float64)
    path = np.empty(power.size + 1)
    path[0] = battery.e_initial_kwh
    for t, p in enumerate(power):
        path[t + 1] = a * path[t] + scale * p
    return path


def pooled_bands(
    median_kw: FloatArray, low_kw: FloatArray, high_kw: FloatArray, correlation: float
) -> tuple[FloatArray, FloatArray]:
    """Each asset's forecast band (n, T) kW shrunk so that together they make the POOL's band.

    Summing every asset's P10-P90 band asks for the pool to survive all assets missing
    their forecast in the same direction at once, which is far wider than the pool's own
    P10-P90 when errors are partly independent. With band half-widths w_i and a common
    correlation ρ, the pool's half-width is sqrt((1-ρ)·Σw_i² + ρ·(Σw_i)²) (normal errors);
    every band is scaled by that over Σw_i (1 when ρ = 1, 1/sqrt(n) for n equal
    independent assets), so the pooled offers hold at the pool's P10-P90.
    """
    below = np.clip(median_kw - low_kw, 0.0, None)
    above = np.clip(high_kw - median_kw, 0.0, None)

    def factor(width: FloatArray) -> FloatArray:
        total: FloatArray = width.sum(axis=0)
        pooled = np.sqrt((1 - correlation) * (width**2).sum(axis=0) + correlation * total**2)
        out: FloatArray = np.divide(pooled, total, out=np.ones_like(total), where=total > 0)
        return out

    return median_kw - factor(below) * below, median_kw + factor(above) * above
