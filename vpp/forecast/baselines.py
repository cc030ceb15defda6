"""Settlement-style baselines: what an asset would have drawn on a market day without the VPP.

Two rule families, both parameterised, both working on a history of 15-minute power
(kW, net-load sign, UTC-aware index) and returning the 96 intervals of the market day:

- `similar_days_baseline`: the average of the N most recent similar non-event days. The
  default (N = 5, workdays only for a workday) is the Jiangsu invited-DR rule: "the load
  curve of the same time window on the last 5 normal working days before the invitation
  day" (market-rules-china.md §b5, source C13). DESIGN §3 makes it the default settlement
  baseline.
- `high_x_of_y_baseline`: of the Y most recent similar non-event days, the X with the
  highest load, averaged; optionally scaled by a same-day (morning) adjustment capped at
  ±20 %. Beijing: X = 5 of Y = 10 days taken from D-12..D-2, weekends and holidays dropped
  and topped up to 10 (§b5, C13) = `high_x_of_y_baseline(x=5, y=10, first_lag_days=2)`.
  CAISO 10-in-10 = x = y = 10 with the day-of adjustment; Enel X / TECO = 3 of 10 plus
  adjustment; IESO = 15 of 20 adjusted by up to ±20 % (§b5, X1-X4).

Day eligibility, shared by both rules:

- *Similar* means the same class: workdays with workdays, rest days (Saturdays, Sundays,
  `holidays`) with rest days. `extra_workdays` (China's 调休 make-up days on a weekend)
  count as workdays. The Jiangsu rule only defines workdays; using the rest days for a
  rest-day target is this module's extension (GB/T 32127 also treats them apart).
- *Event days* (`event_days`: days with a DR event, or with dispatched flexibility) are
  never used: their load is not what the asset would have drawn.
- A day with **any missing interval is skipped** entirely (after cleaning: a gap short
  enough to be interpolated by `vpp.forecast.quality` is no longer missing). Mixing
  partial days would bias the intervals that are present towards fewer days.
- Candidates run back from `day - first_lag_days` for at most `lookback_days` days. If
  fewer than N (or Y) eligible days are found, the baseline uses those found and says so
  (`Baseline.complete` is False); with none it is all NaN.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY
from vpp.forecast.calendar import FloatArray, day_series, is_rest_day, to_day_matrix


@dataclass(frozen=True)
class Baseline:
    """A baseline for the 96 intervals of one market day."""

    day: date
    power_kw: FloatArray
    """Baseline net load per interval (kW), shape (96,); NaN when no eligible day was found."""
    days_used: tuple[date, ...]
    """The history days averaged, most recent first."""
    rule: str
    """Human-readable rule and parameters, e.g. "similar-days(n=5)"."""
    complete: bool
    """True if the rule found as many eligible days as it asks for."""
    adjustment_factor: float | None = None
    """Applied same-day adjustment (multiplicative factor, or additive kW), None if none."""

    def to_series(self) -> pd.Series:
        """The baseline (kW) as a series on the day's UTC interval starts."""
        return day_series(self.day, self.power_kw, name="baseline_kw")


class AdjustmentKind(StrEnum):
    """How a same-day adjustment is applied."""

    MULTIPLICATIVE = "multiplicative"
    """baseline × clip(actual / baseline over the window, 1 - cap, 1 + cap) (CAISO, IESO)."""
    ADDITIVE = "additive"
    """baseline + clip(actual - baseline over the window, ±cap × baseline there) (kW)."""


@dataclass(frozen=True)
class MorningAdjustment:
    """Same-day adjustment from the measured load in a window before the event.

    The window is given in intervals of the market day, [start_interval, end_interval); a
    CAISO-style window is the hours 4 to 1 before the event start (e.g. an event at 14:00:
    10:00-13:00 = intervals 40..52). The factor is capped at ±`cap` (default 20 %).
    """

    start_interval: int = 40
    end_interval: int = 52
    cap: float = 0.2
    kind: AdjustmentKind = AdjustmentKind.MULTIPLICATIVE

    def __post_init__(self) -> None:
        if not 0 <= self.start_interval < self.end_interval <= INTERVALS_PER_DAY:
            raise ValueError("adjustment window must satisfy 0 <= start < end <= 96")
        if not 0.0 <= self.cap < 1.0:
            raise ValueError("adjustment cap must be in [0, 1)")


def _eligible_before(
    days: Sequence[date],
    matrix: FloatArray,
    target: int,
    *,
    want: int,
    first_lag_days: int,
    lookback_days: int,
    event_days: Collection[date],
    holidays: Collection[date],
    extra_workdays: Collection[date],
) -> list[int]:
    """Row indices of up to `want` eligible days before row `target`, most recent first."""
    rest = is_rest_day(days[target], holidays, extra_workdays)
    found: list[int] = []
    start = target - first_lag_days
    stop = max(target - first_lag_days - lookback_days, -1)
    for i in range(start, stop, -1):
        if i < 0 or len(found) >= want:
            break
        day = days[i]
        if day in event_days or is_rest_day(day, holidays, extra_workdays) != rest:
            continue
        if not np.isfinite(matrix[i]).all():
            continue
        found.append(i)
    return found


def _history_matrix(
    history: pd.Series, day: date, span_days: int
) -> tuple[list[date], FloatArray, int]:
    first = day - timedelta(days=span_days)
    days, matrix = to_day_matrix(history, first=first, last=day)
    return days, matrix, len(days) - 1


def similar_days_matrix(
    days: Sequence[date],
    matrix: FloatArray,
    target: int,
    *,
    n_days: int = 5,
    first_lag_days: int = 1,
    lookback_days: int = 45,
    event_days: Collection[date] = (),
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> Baseline:
    """`similar_days_baseline` on a (days x 96) matrix (kW, NaN = missing) for row `target`."""
    if n_days < 1:
        raise ValueError("n_days must be >= 1")
    used = _eligible_before(
        days,
        matrix,
        target,
        want=n_days,
        first_lag_days=first_lag_days,
        lookback_days=lookback_days,
        event_days=event_days,
        holidays=holidays,
        extra_workdays=extra_workdays,
    )
    power = (matrix[used].mean(axis=0) if used else np.full(INTERVALS_PER_DAY, np.nan)).astype(
        np.float64
    )
    return Baseline(
        day=days[target],
        power_kw=power,
        days_used=tuple(days[i] for i in used),
        rule=f"similar-days(n={n_days})",
        complete=len(used) == n_days,
    )


def similar_days_baseline(
    history: pd.Series,
    day: date,
    *,
    n_days: int = 5,
    first_lag_days: int = 1,
    lookback_days: int = 45,
    event_days: Collection[date] = (),
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> Baseline:
    """Average of the `n_days` most recent similar non-event complete days before `day`.

    history: 15-min net load (kW), UTC-aware index, cleaned. day: the market day
    (Asia/Shanghai). Candidates are `day - first_lag_days` back to `day - first_lag_days -
    lookback_days + 1`; eligibility as in the module docstring. Default = the Jiangsu rule
    (last 5 normal working days, §b5 C13); `n_days=10` gives an average-of-10 CBL.
    """
    days, matrix, target = _history_matrix(history, day, first_lag_days + lookback_days)
    return similar_days_matrix(
        days,
        matrix,
        target,
        n_days=n_days,
        first_lag_days=first_lag_days,
        lookback_days=lookback_days,
        event_days=event_days,
        holidays=holidays,
        extra_workdays=extra_workdays,
    )


def apply_adjustment(
    baseline_kw: FloatArray, actual_kw: FloatArray, adjustment: MorningAdjustment
) -> tuple[FloatArray, float | None]:
    """Scale (or shift) a 96-interval baseline by the capped same-day adjustment.

    actual_kw: the day's measured load (kW, NaN where not yet measured). Returns the
    adjusted baseline and the factor (or additive kW) applied; (baseline, None) when the
    window is not fully measured or the baseline there is not positive.
    """
    window = slice(adjustment.start_interval, adjustment.end_interval)
    measured, expected = actual_kw[window], baseline_kw[window]
    if not (np.isfinite(measured).all() and np.isfinite(expected).all()):
        return baseline_kw, None
    expected_mean = float(expected.mean())
    if expected_mean <= 0.0:
        return baseline_kw, None
    if adjustment.kind == AdjustmentKind.MULTIPLICATIVE:
        factor = float(
            np.clip(measured.mean() / expected_mean, 1 - adjustment.cap, 1 + adjustment.cap)
        )
        return baseline_kw * factor, factor
    limit = adjustment.cap * expected_mean
    offset = float(np.clip(measured.mean() - expected_mean, -limit, limit))
    return baseline_kw + offset, offset


def high_x_of_y_matrix(
    days: Sequence[date],
    matrix: FloatArray,
    target: int,
    *,
    x: int = 5,
    y: int = 10,
    first_lag_days: int = 1,
    lookback_days: int = 45,
    rank_intervals: tuple[int, int] = (0, INTERVALS_PER_DAY),
    adjustment: MorningAdjustment | None = None,
    event_days: Collection[date] = (),
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> Baseline:
    """`high_x_of_y_baseline` on a (days x 96) matrix (kW, NaN = missing) for row `target`.

    The same-day adjustment reads the target row itself (its measured morning).
    """
    if not 1 <= x <= y:
        raise ValueError("need 1 <= x <= y")
    pool = _eligible_before(
        days,
        matrix,
        target,
        want=y,
        first_lag_days=first_lag_days,
        lookback_days=lookback_days,
        event_days=event_days,
        holidays=holidays,
        extra_workdays=extra_workdays,
    )
    lo, hi = rank_intervals
    rank_load = np.array([matrix[i, lo:hi].mean() for i in pool])
    # Highest load first; ties broken towards the more recent day (stable sort on recency).
    chosen = [pool[j] for j in np.argsort(-rank_load, kind="stable")[:x]]
    chosen.sort(key=lambda i: -i)
    power = (matrix[chosen].mean(axis=0) if chosen else np.full(INTERVALS_PER_DAY, np.nan)).astype(
        np.float64
    )
    factor: float | None = None
    rule = f"high-{x}-of-{y}"
    if adjustment is not None and chosen:
        power, factor = apply_adjustment(power, matrix[target], adjustment)
        rule += f"+{adjustment.kind.value}-adjustment(cap={adjustment.cap:g})"
    return Baseline(
        day=days[target],
        power_kw=power,
        days_used=tuple(days[i] for i in chosen),
        rule=rule,
        complete=len(pool) == y,
        adjustment_factor=factor,
    )


def high_x_of_y_baseline(
    history: pd.Series,
    day: date,
    *,
    x: int = 5,
    y: int = 10,
    first_lag_days: int = 1,
    lookback_days: int = 45,
    rank_intervals: tuple[int, int] = (0, INTERVALS_PER_DAY),
    adjustment: MorningAdjustment | None = None,
    event_days: Collection[date] = (),
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> Baseline:
    """Average of the `x` highest-load days among the `y` most recent similar non-event days.

    history: 15-min net load (kW), UTC-aware, cleaned; it must include `day` itself when an
    `adjustment` is asked for (the measured morning). Days are ranked by their mean load
    over `rank_intervals` [start, end) (CAISO ranks on the event window; Beijing on the
    day). Beijing (§b5 C13): x=5, y=10, first_lag_days=2. CAISO 10-in-10: x=y=10 with
    `MorningAdjustment()` (capped ±20 %). Eligibility as in the module docstring.
    """
    days, matrix, target = _history_matrix(history, day, first_lag_days + lookback_days)
    return high_x_of_y_matrix(
        days,
        matrix,
        target,
        x=x,
        y=y,
        first_lag_days=first_lag_days,
        lookback_days=lookback_days,
        rank_intervals=rank_intervals,
        adjustment=adjustment,
        event_days=event_days,
        holidays=holidays,
        extra_workdays=extra_workdays,
    )
