"""Measurement and verification (pure): interval values, the gap rule, settlement baselines.

Everything works on arrays of 15-minute average power (kW, net-load sign), vectorised over
assets; the settlement day and its history are a tensor ``(days, assets, 96)`` with NaN
where nothing was measured.

**Interval value.** An interval's measured power is the mean of the asset's readings whose
timestamp lies in it (an interval is named by its start, DESIGN §3). Telemetry arriving
every minute or every 15 minutes gives the same 15-minute average power.

**Gap rule.** An interval without any reading is a *gap*. Interior gaps of at most
`GapRule.max_fill_intervals` consecutive intervals (default 2 = 30 min) are filled by
linear interpolation between the neighbouring measured intervals, the same rule as
`vpp.forecast.quality` with a tighter default (an interpolated value is paid for). Longer
gaps, and gaps at the ends of the available data, stay missing: on the settlement day the
asset's response in such an interval counts 0 and the interval is flagged in the statement;
in the history the day is incomplete and the baseline rules skip it.

**Settlement baselines** (market-rules-china.md §b5) reuse `vpp.forecast.baselines`; the
day selection is that module's (similar class, no event days, no incomplete days):

- `BaselineMethod.JIANGSU`: average of the last 5 normal working days before the event day
  ([C13]); `vpp.forecast.baselines.similar_days_matrix(n_days=5)`.
- `BaselineMethod.BEIJING`: of the 10 similar days from D-12..D-2 (weekends and holidays
  dropped, topped up to 10), the average of the 5 with the highest load ([C13]); the same
  selection as `high_x_of_y_matrix(x=5, y=10, first_lag_days=2)`, ranked per asset.
- `BaselineMethod.GBT32127`: GB/T 32127-2015 (需求响应效果监测与综合效益评价导则) as reported
  in [C15]: similar days of the event day's class, the 5 most recent non-event working days
  for a working-day event and the 3 most recent non-event rest days for a rest-day event.
  The standard's full text (and its revised day-selection rule) was not retrieved, so this
  is the rule as reported, configurable like the others.

Each may take a same-day adjustment (`vpp.forecast.baselines.MorningAdjustment`, capped,
multiplicative or additive) computed per asset from its measured morning window.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from vpp.domain import INTERVALS_PER_DAY
from vpp.forecast.baselines import (
    AdjustmentKind,
    Baseline,
    MorningAdjustment,
    similar_days_matrix,
)
from vpp.forecast.calendar import is_rest_day

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

T = INTERVALS_PER_DAY


class BaselineMethod(StrEnum):
    """Which settlement baseline rule a product uses (see the module docstring)."""

    JIANGSU = "jiangsu"
    BEIJING = "beijing"
    GBT32127 = "gbt32127"


@dataclass(frozen=True)
class BaselineRule:
    """A product's settlement baseline: the method, an optional same-day adjustment and how
    many days back eligible days are sought."""

    method: BaselineMethod = BaselineMethod.JIANGSU
    adjustment: MorningAdjustment | None = None
    lookback_days: int = 45

    def __post_init__(self) -> None:
        if self.lookback_days < 1:
            raise ValueError("lookback_days must be >= 1")

    def describe(self) -> str:
        """The rule as sealed in the ledger, e.g. ``jiangsu(lookback=45)``."""
        text = f"{self.method.value}(lookback={self.lookback_days})"
        adj = self.adjustment
        if adj is not None:
            text += (
                f"+{adj.kind.value}-adjustment({adj.start_interval}-{adj.end_interval},"
                f"cap={adj.cap:g})"
            )
        return text


@dataclass(frozen=True)
class GapRule:
    """How telemetry gaps are treated (module docstring)."""

    max_fill_intervals: int = 2

    def __post_init__(self) -> None:
        if self.max_fill_intervals < 0:
            raise ValueError("max_fill_intervals must be >= 0")


@dataclass(frozen=True)
class AssetBaselines:
    """Settlement baselines of many assets for one market day."""

    power_kw: FloatArray
    """(assets, 96) baseline net load (kW); NaN where no eligible day was found."""
    days_used: tuple[tuple[date, ...], ...]
    """Per asset, the history days averaged (most recent first)."""
    complete: BoolArray
    """(assets,) True where the rule found every day it asks for."""
    adjustment: FloatArray
    """(assets,) same-day factor (multiplicative) or offset kW (additive); NaN if none."""
    rule: str


def interval_means(
    asset_index: IntArray, slot: IntArray, power_kw: FloatArray, n_assets: int, n_slots: int
) -> FloatArray:
    """Mean power (kW) per asset and 15-min slot from raw readings; NaN where none.

    asset_index, slot: per reading, the asset's row and the interval slot counted from the
    first interval of the window; readings outside [0, n_slots) are ignored.
    """
    asset_index = np.asarray(asset_index, dtype=np.int64)
    slot = np.asarray(slot, dtype=np.int64)
    power = np.asarray(power_kw, dtype=np.float64)
    ok = (slot >= 0) & (slot < n_slots) & (asset_index >= 0) & (asset_index < n_assets)
    ok &= np.isfinite(power)
    flat = asset_index[ok] * n_slots + slot[ok]
    size = n_assets * n_slots
    sums = np.bincount(flat, weights=power[ok], minlength=size)
    counts = np.bincount(flat, minlength=size)
    out = np.full(size, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out.reshape(n_assets, n_slots)


def _fill_runs(
    keys: IntArray, series_len: int, max_gap: int, value_at: Callable[[IntArray], FloatArray]
) -> tuple[IntArray, FloatArray]:
    """Interpolate short interior runs among missing cells given by sorted series ``keys``.

    A key is ``series * series_len + position``. Returns the keys filled and their values;
    ``value_at(keys)`` reads measured values. Works on the missing cells only, so its cost
    grows with the gaps, not with the data.
    """
    if keys.size == 0 or max_gap <= 0:
        return keys[:0], np.zeros(0)
    series, pos = np.divmod(keys, series_len)
    new_run = np.ones(keys.size, dtype=bool)
    new_run[1:] = (np.diff(keys) != 1) | (np.diff(series) != 0)
    run = np.cumsum(new_run) - 1
    first = np.flatnonzero(new_run)
    last = np.append(first[1:] - 1, keys.size - 1)
    start_pos, end_pos = pos[first], pos[last] + 1
    length = end_pos - start_pos
    ok_run = (start_pos > 0) & (end_pos < series_len) & (length <= max_gap)
    ok = ok_run[run]
    if not ok.any():
        return keys[:0], np.zeros(0)
    good = np.flatnonzero(ok_run)
    slot = np.zeros(first.size, dtype=np.int64)
    slot[good] = np.arange(good.size)
    r = run[ok]
    left = value_at(keys[first[good]] - 1)[slot[r]]
    right = value_at(keys[last[good]] + 1)[slot[r]]
    frac = (pos[ok] - start_pos[r] + 1) / (length[r] + 1)
    return keys[ok], left + (right - left) * frac


def fill_short_gaps(values: FloatArray, max_gap: int) -> tuple[FloatArray, BoolArray]:
    """Fill interior runs of at most ``max_gap`` NaNs along the last axis linearly.

    values: (rows, slots) kW. Returns the filled copy and the mask of filled cells. The same
    rule as `vpp.forecast.quality` (interior gaps only), vectorised over rows.
    """
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    mask = np.zeros(v.shape, dtype=bool)
    flat = v.reshape(-1)
    keys, filled = _fill_runs(
        np.flatnonzero(~np.isfinite(flat)), v.shape[1], max_gap, lambda k: flat[k]
    )
    out.reshape(-1)[keys] = filled
    mask.reshape(-1)[keys] = True
    return out, mask


def fill_day_tensor(values: FloatArray, rule: GapRule) -> tuple[FloatArray, BoolArray]:
    """`fill_short_gaps` on a ``(days, assets, 96)`` tensor along continuous time.

    A gap spanning midnight is one gap. Returns the filled tensor (same layout) and the
    filled mask.
    """
    d, n, t = values.shape
    out = np.array(values, dtype=np.float64)
    mask = np.zeros(values.shape, dtype=bool)
    flat = out.reshape(-1)
    missing = np.flatnonzero(~np.isfinite(flat))
    day, rest = np.divmod(missing, n * t)
    asset, k = np.divmod(rest, t)
    keys = np.sort(asset * (d * t) + day * t + k)

    def to_flat(series_keys: IntArray) -> IntArray:
        a, pos = np.divmod(series_keys, d * t)
        return np.asarray((pos // t) * (n * t) + a * t + pos % t, dtype=np.int64)

    filled_keys, filled = _fill_runs(
        keys, d * t, rule.max_fill_intervals, lambda s: flat[to_flat(s)]
    )
    where = to_flat(filled_keys)
    flat[where] = filled
    mask.reshape(-1)[where] = True
    return out, mask


def _groups(complete: BoolArray) -> list[IntArray]:
    """Asset indices grouped by identical day-completeness patterns (rows of ``complete``)."""
    if complete.shape[1] == 0:
        return [np.arange(complete.shape[0])]
    _, inverse = np.unique(complete, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [np.asarray(g, dtype=np.int64) for g in np.split(order, bounds)]


def _group_matrix(values: FloatArray, idx: IntArray) -> FloatArray:
    """(days, len(idx) * 96) view or copy of the group's assets."""
    if idx.size == values.shape[1]:
        return values.reshape(values.shape[0], -1)
    return values[:, idx, :].reshape(values.shape[0], -1)


def _top_x_mean(values: FloatArray, rows: list[int], x: int) -> tuple[FloatArray, IntArray]:
    """Per asset, the mean of its ``x`` highest-load rows among ``rows`` (most recent first).

    values: (days, assets, 96). Ranks each asset's days by its daily mean load, highest
    first, ties towards the more recent day: `high_x_of_y_matrix`'s rule, per asset.
    """
    pool = values[rows]  # (y, assets, 96)
    load = pool.mean(axis=2).T  # (assets, y)
    # most recent first among the chosen, as the forecast rule averages them
    order = np.sort(np.argsort(-load, axis=1, kind="stable")[:, :x], axis=1)  # (assets, x)
    chosen = np.take_along_axis(pool.transpose(1, 0, 2), order[:, :, None], axis=1)
    return np.asarray(chosen.mean(axis=1), dtype=np.float64), np.asarray(order, dtype=np.int64)


def adjust(
    baseline_kw: FloatArray, actual_kw: FloatArray, adjustment: MorningAdjustment
) -> tuple[FloatArray, FloatArray]:
    """`vpp.forecast.baselines.apply_adjustment` for many assets at once.

    baseline_kw, actual_kw: (assets, 96) kW. Returns the adjusted baselines and, per asset,
    the factor (multiplicative) or offset kW (additive) applied; NaN (and the baseline kept)
    where the window is not fully measured or its expected mean is not positive.
    """
    window = slice(adjustment.start_interval, adjustment.end_interval)
    measured, expected = actual_kw[:, window], baseline_kw[:, window]
    ok = np.isfinite(measured).all(axis=1) & np.isfinite(expected).all(axis=1)
    expected_mean = np.where(ok, expected.mean(axis=1), 0.0)
    measured_mean = np.where(ok, measured.mean(axis=1), 0.0)
    ok &= expected_mean > 0.0
    if adjustment.kind == AdjustmentKind.MULTIPLICATIVE:
        ratio = np.divide(measured_mean, expected_mean, out=np.ones_like(expected_mean), where=ok)
        factor = np.clip(ratio, 1 - adjustment.cap, 1 + adjustment.cap)
        out = np.where(ok[:, None], baseline_kw * factor[:, None], baseline_kw)
    else:
        limit = adjustment.cap * expected_mean
        factor = np.clip(measured_mean - expected_mean, -limit, limit)
        out = np.where(ok[:, None], baseline_kw + factor[:, None], baseline_kw)
    return out, np.where(ok, factor, np.nan)


def settlement_baselines(
    days: Sequence[date],
    values: FloatArray,
    target: int,
    rule: BaselineRule,
    *,
    event_days: Collection[date] = (),
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> AssetBaselines:
    """Baselines (kW) of every asset for row ``target`` of ``values`` by ``rule``.

    values: (days, assets, 96) kW, gap-filled, NaN = missing; ``days`` names its rows
    (consecutive market days). The days are selected by `vpp.forecast.baselines`
    (`similar_days_matrix`), once for every asset whose selected days are complete and
    once per gap pattern for the others, so the cost grows with the number of distinct gap
    patterns near the day, not with the number of assets.
    """
    n = values.shape[1]
    power = np.full((n, T), np.nan)
    used: list[tuple[date, ...]] = [()] * n
    complete = np.zeros(n, dtype=bool)
    first = max(0, target - rule.lookback_days - 2)
    window = values[first : target + 1]
    window_days = list(days[first : target + 1])
    row = target - first
    day_complete = np.asarray(np.isfinite(window[:row]).all(axis=2).T)  # (assets, days)
    rest = is_rest_day(days[target], holidays, extra_workdays)
    beijing = rule.method == BaselineMethod.BEIJING
    wanted = 10 if beijing else 3 if rule.method == BaselineMethod.GBT32127 and rest else 5
    lag = 2 if beijing else 1

    def select(matrix: FloatArray) -> Baseline:
        return similar_days_matrix(
            window_days,
            matrix,
            row,
            n_days=wanted,
            first_lag_days=lag,
            lookback_days=rule.lookback_days,
            event_days=event_days,
            holidays=holidays,
            extra_workdays=extra_workdays,
        )

    def assign(idx: IntArray, base: Baseline) -> None:
        complete[idx] = base.complete
        rows = [window_days.index(d) for d in base.days_used]
        if not rows:
            return
        if not beijing:
            power[idx] = window[np.ix_(np.asarray(rows, dtype=np.int64), idx)].mean(axis=0)
            for a in idx.tolist():
                used[a] = base.days_used
            return
        mean, order = _top_x_mean(window[:, idx, :] if idx.size < n else window, rows, 5)
        power[idx] = mean
        for j, a in enumerate(idx.tolist()):
            used[a] = tuple(base.days_used[k] for k in order[j])

    # The days the rule picks for an asset with complete history; an asset whose picked days
    # are all complete gets exactly those (every day skipped before them is skipped for
    # reasons that hold for every asset), so they are settled together. Only the others
    # are grouped by gap pattern, each group through the rule itself.
    default = select(np.zeros((len(window_days), 1)))
    picked = [window_days.index(d) for d in default.days_used]
    fast = day_complete[:, picked].all(axis=1)
    assign(np.flatnonzero(fast), default)
    slow = np.flatnonzero(~fast)
    if slow.size:
        for group in _groups(day_complete[slow]):
            idx = slow[group]
            assign(idx, select(_group_matrix(window, idx)))
    factor = np.full(n, np.nan)
    if rule.adjustment is not None:
        power, factor = adjust(power, values[target], rule.adjustment)
    return AssetBaselines(power, tuple(used), complete, factor, rule.describe())


__all__ = [
    "AssetBaselines",
    "BaselineMethod",
    "BaselineRule",
    "GapRule",
    "adjust",
    "fill_day_tensor",
    "fill_short_gaps",
    "interval_means",
    "settlement_baselines",
]
