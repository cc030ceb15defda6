"""Day-ahead and intraday load forecasts: a similar-day ridge regression with quantiles.

The model, per asset (vectorised across assets; all powers kW, net-load sign):

    load[d, k] = β · f[d, k]

for market day d and interval k, with one coefficient vector β per asset shared by all
intervals and day types, and features f built only from what is measured when the
day-ahead forecast is issued: every day up to d-2 and the first `known_intervals` of d-1
(default 40 = D-1 10:00 Beijing time, before gate closure, DESIGN §2):

- ``wd1_s, wd2_s``: the last and second-last day of the same weekday type (holidays count
  as Sundays), smoothed over ±1 interval; ``wd1``: the last one unsmoothed;
- ``wd4_s, wd8_s``: means of the last 4 / 8 days of that weekday type (±1 / ±2 intervals);
- ``cls5_s, cls10_s, cls20_s``: means of the last 5 / 10 / 20 days of the same class
  (workday, Saturday, Sunday/holiday), ±1 / ±1 / ±2 intervals: more days, less noise;
- ``recent_level, recent_shape``: how the last complete day differed from what its own last
  10 same-class days predicted (its mean, and that difference smoothed over ±4 intervals);
- ``morning_level``: the same difference averaged over the measured part of d-1;
- ``morning_ratio``: that difference relative to the expected load of those intervals,
  times ``cls10_s``: a day running at 90 % all morning is scaled down in proportion to each
  interval's usual load rather than by the same kW everywhere (0 where the usual morning
  load is not clearly positive);
- ``intercept``.

β is fitted by exponentially weighted ridge regression (half-life `half_life_days`) on
every complete past day, each day also weighted by how ordinary it was: a day whose
deviation from its own similar days (RMS of load minus the mean of its last 10 same-class
days) exceeds the median deviation of the 4 weeks up to it counts (median / deviation)²,
as an observation of that much larger variance would, so a bridge day or an outage does
not pull β towards itself. The fit has a light penalty (`prior_weight_days`) towards a
prior β0 (half ``wd4_s``, half ``cls10_s``: a plain similar-day average) rather than
towards zero, which keeps the solve well posed when features are collinear (a perfectly
weekly load) and is the forecast itself for assets with less than `min_history_days` of
history (confidence LOW). Because fitting only needs the per-day sums FᵀF and Fᵀy,
refitting for each new day is an update, and a walk-forward over a whole year (the
backtest) costs one small solve per asset and day.

Quantiles: out-of-sample residuals of the last `residual_window_days` walk-forward
forecasts give a residual scale per interval of day (pooled over ±4 intervals, workdays and
rest days apart) and, per asset, the quantiles of the residuals divided by that scale;
the forecast quantile is ``mean + scale[k] · z_q``. P50 is therefore the median, the point
forecast ``mean_kw`` the conditional mean (what RMSE rewards).

Intraday: `update_intraday` re-forecasts the rest of the day from the latest measured
residual e (decaying as ρ^h, ρ = the residuals' lag-1 autocorrelation) and the mean
residual of the last 4 h (weight γ fitted on the walk-forward residuals).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY, interval_starts_utc
from vpp.forecast.calendar import (
    DayClass,
    FloatArray,
    IntArray,
    day_classes,
    day_types,
    market_day_at,
    market_day_span,
    market_days,
    place_grid,
    place_on_days,
)
from vpp.forecast.quality import (
    BoolArray,
    CleaningRules,
    Confidence,
    QualityReport,
    assess_history,
    clean_readings,
    nan_median,
    readings_of,
)

FEATURES: tuple[str, ...] = (
    "wd1_s",
    "wd2_s",
    "wd4_s",
    "wd8_s",
    "wd1",
    "cls5_s",
    "cls10_s",
    "cls20_s",
    "recent_level",
    "recent_shape",
    "morning_level",
    "morning_ratio",
    "intercept",
)
_LEVEL_FEATURES = 8  # the first 8 features are load levels (kW); the rest are not
_N_FEATURES = len(FEATURES)
_K = INTERVALS_PER_DAY
_RECENT_HOURS_INTERVALS = 16  # intraday level term: mean residual of the last 4 h
_WEIGHT_WINDOW_DAYS = 28  # training-day weights: a day's anomaly against the last 4 weeks'
# Prediction reads at most 20 same-class days (20 Saturdays: 140 days) plus the expectation
# behind the anomaly features; 200 days leave room for holidays.
_PREDICT_LOOKBACK_DAYS = 200


@dataclass(frozen=True)
class LoadModelConfig:
    """Parameters of the load model (module docstring)."""

    known_intervals: int = 40
    """Intervals of day d-1 measured when d's forecast is issued (0..96; 40 = 10:00)."""
    half_life_days: float = 90.0
    """Half-life of the training weights (days)."""
    prior_weight_days: float = 0.05
    """Weight of the prior β0 in the ridge penalty, in days of data."""
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Quantile levels of the forecast (fractions in (0, 1))."""
    residual_window_days: int = 56
    """Days of out-of-sample residuals behind the quantiles and the intraday terms."""
    residual_pool_intervals: int = 4
    """Intervals pooled on each side for the per-interval residual scale."""
    min_history_days: int = 14
    """Complete days (in the last 56) needed for confidence OK (`assess_history`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.known_intervals <= _K:
            raise ValueError("known_intervals must be in [0, 96]")
        if self.half_life_days <= 0 or self.prior_weight_days <= 0:
            raise ValueError("half_life_days and prior_weight_days must be > 0")
        if not all(0.0 < q < 1.0 for q in self.quantiles):
            raise ValueError("quantiles must lie in (0, 1)")
        if self.residual_window_days < 7:
            raise ValueError("residual_window_days must be >= 7")

    @property
    def min_lag(self) -> int:
        """Most recent complete day, in days before the target: 1 if d-1 is fully known."""
        return 1 if self.known_intervals >= _K else 2


@dataclass(frozen=True)
class LoadHistory:
    """Measured load of several assets as market days x 96 intervals (kW, NaN = missing)."""

    asset_ids: tuple[str, ...]
    days: tuple[date, ...]
    """Consecutive market days (Asia/Shanghai)."""
    power_kw: FloatArray
    """Shape (assets, days, 96)."""

    def __post_init__(self) -> None:
        shape = (len(self.asset_ids), len(self.days), _K)
        if self.power_kw.shape != shape:
            raise ValueError(f"power_kw must have shape {shape}, got {self.power_kw.shape}")
        for prev, nxt in zip(self.days, self.days[1:], strict=False):
            if nxt - prev != timedelta(days=1):
                raise ValueError("days must be consecutive")

    @classmethod
    def from_series(
        cls,
        series: Mapping[str, pd.Series],
        first: date | None = None,
        last: date | None = None,
    ) -> LoadHistory:
        """Build from cleaned 15-min series per asset (kW, UTC-aware index)."""
        if not series:
            raise ValueError("no series given")
        if first is None or last is None:  # the span of the data, read only when needed
            spans = [span for s in series.values() if (span := market_day_span(s))]
            if not spans:
                raise ValueError("empty series need explicit first and last days")
            first = first or min(span[0] for span in spans)
            last = last or max(span[1] for span in spans)
        days = market_days(first, last)
        # one array filled in place: a matrix per asset, stacked, copied a fleet's
        # 200 days twice (150 MB per 1,000 assets)
        power = np.full((len(series), len(days), _K), np.nan)
        for row, s in zip(power, series.values(), strict=True):
            place_on_days(row, s, first)
        return cls(tuple(series), tuple(days), power)

    def from_first_reading(self) -> LoadHistory:
        """The history without its leading days on which no asset has a value.

        Those days change no feature, weight or residual (a lagged day before the history
        counts as missing, as an empty one does), but the walk-forward would compute
        features for each: a fleet enrolled two weeks ago, forecast over the default 200
        days, did thirteen times the work."""
        present: BoolArray = np.asarray(np.isfinite(self.power_kw).any(axis=(0, 2)))
        if not present.any() or present[0]:
            return self
        start = int(np.argmax(present))
        return LoadHistory(self.asset_ids, self.days[start:], self.power_kw[:, start:])

    def until(self, last: date) -> LoadHistory:
        """The history cut (or NaN-padded) to end on `last`."""
        first = self.days[0]
        n = (last - first).days + 1
        if n <= 0:
            raise ValueError("last is before the history starts")
        values = np.full((len(self.asset_ids), n, _K), np.nan)
        keep = min(n, len(self.days))
        values[:, :keep] = self.power_kw[:, :keep]
        return LoadHistory(self.asset_ids, tuple(market_days(first, last)), values)


@dataclass(frozen=True)
class LoadModel:
    """A fitted load model for one target day: coefficients and uncertainty per asset."""

    config: LoadModelConfig
    asset_ids: tuple[str, ...]
    day: date
    """The market day this model forecasts."""
    coefficients: FloatArray
    """β per asset, shape (assets, len(FEATURES))."""
    residual_scale_kw: FloatArray
    """Residual scale per asset, class (0 workday, 1 rest day) and interval, (assets, 2, 96)."""
    z_quantiles: FloatArray
    """Standardised residual quantiles per asset, shape (assets, len(config.quantiles))."""
    ar_rho: FloatArray
    """Lag-1 autocorrelation of residuals within a day, per asset (0..0.99)."""
    level_gain: FloatArray
    """Weight γ of the last 4 h's mean residual in the intraday update, per asset (0..1)."""
    confidence: tuple[Confidence, ...]
    """Per asset: OK, LOW (fallback, widened bands) or NONE (no forecast)."""
    holidays: frozenset[date] = field(default=frozenset())
    extra_workdays: frozenset[date] = field(default=frozenset())
    confidence_reasons: tuple[str, ...] = ()
    """Per asset: why it has its confidence (the history it had), in words."""


@dataclass(frozen=True)
class LoadForecast:
    """Forecast of the 96 intervals of one market day for several assets."""

    day: date
    asset_ids: tuple[str, ...]
    mean_kw: FloatArray
    """Point forecast (conditional mean), shape (assets, 96); NaN if confidence NONE."""
    quantiles: tuple[float, ...]
    quantile_kw: FloatArray
    """Forecast quantiles, shape (assets, len(quantiles), 96), non-decreasing in the level."""
    confidence: tuple[Confidence, ...]
    method: str
    measured_until: int = 0
    """Intervals of `day` replaced by measurements (intraday updates), 0 for day-ahead."""
    confidence_reasons: tuple[str, ...] = ()
    """Per asset: why it has its confidence (`LoadModel.confidence_reasons`)."""

    def frame(self, asset: int | str = 0) -> pd.DataFrame:
        """One asset's forecast as a frame on the UTC interval starts: mean_kw and p10_kw..."""
        i = self.asset_ids.index(asset) if isinstance(asset, str) else asset
        data = {"mean_kw": self.mean_kw[i]}
        for j, q in enumerate(self.quantiles):
            data[f"p{round(q * 100):02d}_kw"] = self.quantile_kw[i, j]
        return pd.DataFrame(data, index=interval_starts_utc(self.day))


# --- features ------------------------------------------------------------------------------


def _smooth(values: FloatArray, width: int) -> FloatArray:
    """NaN-aware moving mean over ±width intervals along the last axis, within each day."""
    if width == 0:
        return values
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    if all_finite or width <= 2:
        # a few shifted sums beat the padded cumulative sums below (3-6x when nothing is
        # missing, whose counts are known in advance; about 2x for narrow windows with gaps)
        return _shifted_mean(values, finite, width, all_finite)
    shape = values.shape[:-1]
    left, right = np.zeros((*shape, width + 1)), np.zeros((*shape, width))
    csum = np.cumsum(np.concatenate([left, np.where(finite, values, 0.0), right], axis=-1), axis=-1)
    ccnt = np.cumsum(np.concatenate([left, finite.astype(np.float64), right], axis=-1), axis=-1)
    span = 2 * width + 1
    total = csum[..., span:] - csum[..., :-span]
    count = ccnt[..., span:] - ccnt[..., :-span]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0.5, total / count, np.nan)


def _shifted_mean(
    values: FloatArray, finite: BoolArray, width: int, all_finite: bool
) -> FloatArray:
    """`_smooth` as a sum of 2·width + 1 shifted copies."""
    if all_finite:
        k = np.arange(values.shape[-1])
        count = np.minimum(k + width, k.size - 1) - np.maximum(k - width, 0) + 1
        return np.asarray(_window_sum(values, width) / count, dtype=np.float64)
    total = _window_sum(np.where(finite, values, 0.0), width)
    count = _window_sum(finite.astype(np.float64), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0.5, total / count, np.nan)


def _window_sum(values: FloatArray, width: int) -> FloatArray:
    """Sum over ±width along the last axis, within each day (the ends take what exists)."""
    total = values.copy()
    for shift in range(1, width + 1):
        total[..., shift:] += values[..., :-shift]
        total[..., :-shift] += values[..., shift:]
    return total


def _previous_same(key: IntArray, rows: IntArray, min_lag: int, n: int) -> IntArray:
    """(len(rows), n): the n most recent days e <= row - min_lag with key[e] == key[row]."""
    out = np.full((rows.size, n), -1, dtype=np.int64)
    for value in np.unique(key[rows]):
        positions = np.flatnonzero(key == value)
        sel = np.flatnonzero(key[rows] == value)
        count = np.searchsorted(positions, rows[sel] - min_lag, side="right")
        for j in range(n):
            at = count - 1 - j
            ok = at >= 0
            out[sel[ok], j] = positions[at[ok]]
    return out


@dataclass(frozen=True)
class _Padded:
    """A load array prepared once for many lagged means: (A, D + 1, 96) values with 0 where
    missing and a 0/1 presence mask, each with an all-missing day appended at index D so
    that "no such day" (-1) gathers nothing without a mask of its own."""

    filled: FloatArray
    present: FloatArray

    @classmethod
    def of(cls, values: FloatArray) -> _Padded:
        finite = np.isfinite(values)
        pad = np.zeros((values.shape[0], 1, values.shape[2]))
        return cls(
            np.concatenate([np.where(finite, values, 0.0), pad], axis=1),
            np.concatenate([finite.astype(np.float64), pad], axis=1),
        )

    @property
    def missing_day(self) -> int:
        return int(self.filled.shape[1]) - 1


def _lag_means(padded: _Padded, index: IntArray, counts: Sequence[int]) -> dict[int, FloatArray]:
    """NaN-aware means over the first c lagged days for each c in counts: (A, rows, 96) each.

    index[r, j] is the j-th lagged day of row r, -1 if there is none. The lags are added
    one at a time in order (the same sums, bit for bit, as a masked loop over the lags).
    """
    index = np.where(index >= 0, index, padded.missing_day)
    total = np.zeros((padded.filled.shape[0], index.shape[0], _K))
    number = np.zeros_like(total)
    out: dict[int, FloatArray] = {}
    for j in range(max(counts)):
        total += padded.filled[:, index[:, j], :]
        number += padded.present[:, index[:, j], :]
        if j + 1 in counts:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[j + 1] = np.where(number > 0, total / number, np.nan)
    return out


def _expected(padded: _Padded, classes: IntArray, rows: IntArray) -> FloatArray:
    """Each row's own similar-day expectation: mean of its last 10 same-class days (A, rows, 96).

    Computed once per distinct row (the walk-forward asks for nearly every day twice)."""
    unique, inverse = np.unique(rows, return_inverse=True)
    means = _lag_means(padded, _previous_same(classes, unique, 1, 10), [10])[10]
    return means[:, inverse.reshape(-1)]


def _gather(values: FloatArray, index: IntArray) -> FloatArray:
    """values[:, index, :] with NaN where index < 0: (A, len(index), 96)."""
    out = values[:, np.maximum(index, 0), :]
    return np.where((index >= 0)[None, :, None], out, np.nan)


def _mean_over_intervals(values: FloatArray) -> FloatArray:
    """NaN-aware mean over the last axis, 0 where nothing is present: (..., 1)."""
    finite = np.isfinite(values)
    n = finite.sum(axis=-1, keepdims=True)
    total = np.where(finite, values, 0.0).sum(axis=-1, keepdims=True)
    return np.asarray(np.where(n > 0, total / np.maximum(n, 1), 0.0), dtype=np.float64)


def _features(
    values: FloatArray,
    types: IntArray,
    rows: IntArray,
    config: LoadModelConfig,
    padded: _Padded | None = None,
    expected: FloatArray | None = None,
) -> FloatArray:
    """Features (module docstring) for forecasting `rows` of `values` (A, D, 96; kW).

    Shape (A, len(rows), len(FEATURES), 96). Reads only rows <= row - min_lag and the first
    `known_intervals` of row - 1: what is measured when the forecast is issued.
    `padded` and `expected` (every day's `_expected`, (A, D, 96)) may come from a caller
    that needs them too.
    """
    classes = day_classes(types)
    min_lag = config.min_lag
    n_assets = values.shape[0]
    out = np.empty((n_assets, rows.size, _N_FEATURES, _K))
    padded = _Padded.of(values) if padded is None else padded

    same_type = _previous_same(types, rows, min_lag, 8)
    wd = _lag_means(padded, same_type, [4, 8])
    last_wd = _gather(values, same_type[:, 0])
    out[:, :, 0] = _smooth(last_wd, 1)
    out[:, :, 1] = _smooth(_gather(values, same_type[:, 1]), 1)
    out[:, :, 2] = _smooth(wd[4], 1)
    out[:, :, 3] = _smooth(wd[8], 2)
    out[:, :, 4] = last_wd
    cls = _lag_means(padded, _previous_same(classes, rows, min_lag, 20), [5, 10, 20])
    out[:, :, 5] = _smooth(cls[5], 1)
    out[:, :, 6] = _smooth(cls[10], 1)
    out[:, :, 7] = _smooth(cls[20], 2)

    # A missing level feature takes the mean of the levels present, so a gap in one lagged
    # day does not throw the row away; rows with no level at all stay NaN (no forecast).
    levels = out[:, :, :_LEVEL_FEATURES]
    present = np.isfinite(levels)
    if not present.all():
        n_present = present.sum(axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            fill = np.where(present, levels, 0.0).sum(axis=2, keepdims=True) / n_present
        out[:, :, :_LEVEL_FEATURES] = np.where(present, levels, fill)

    recent = rows - min_lag
    previous = rows - 1
    # Both anomalies need each day's own expectation; one pass serves both.
    both = np.concatenate([np.maximum(recent, 0), np.maximum(previous, 0)])
    expected = _expected(padded, classes, both) if expected is None else expected[:, both]
    anomaly = _gather(values, recent) - expected[:, : rows.size]
    out[:, :, 8] = _mean_over_intervals(anomaly)
    out[:, :, 9] = np.nan_to_num(_smooth(anomaly, 4), nan=0.0)
    out[:, :, 10:12] = 0.0
    if min_lag == 2 and config.known_intervals > 0:
        known = slice(0, config.known_intervals)
        measured = _gather(values, previous)[..., known]
        usual = expected[:, rows.size :][..., known]
        morning = measured - usual
        out[:, :, 10] = _mean_over_intervals(morning)
        out[:, :, 11] = _relative_change(morning, usual, expected[:, rows.size :]) * out[:, :, 6]
    out[:, :, 12] = 1.0
    return out


def _relative_change(change: FloatArray, usual: FloatArray, usual_day: FloatArray) -> FloatArray:
    """Mean `change` over the mean `usual` load of the same intervals, (A, rows, 1).

    0 where that usual load is not clearly positive (under a tenth of the usual day's mean
    absolute load, or a net export), where a ratio means nothing; clipped to ±1.
    """
    finite = np.isfinite(change) & np.isfinite(usual)
    n = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
    change_mean = np.where(finite, change, 0.0).sum(axis=-1, keepdims=True) / n
    usual_mean = np.where(finite, usual, 0.0).sum(axis=-1, keepdims=True) / n
    floor = 0.1 * _mean_over_intervals(np.abs(usual_day))
    ok = (usual_mean > floor) & (usual_mean > 0) & finite.any(axis=-1, keepdims=True)
    ratio = change_mean / np.where(ok, usual_mean, 1.0)
    return np.asarray(np.where(ok, np.clip(ratio, -1.0, 1.0), 0.0), dtype=np.float64)


def _prior() -> FloatArray:
    beta = np.zeros(_N_FEATURES)
    beta[FEATURES.index("wd4_s")] = 0.5
    beta[FEATURES.index("cls10_s")] = 0.5
    return beta


# --- uncertainty from out-of-sample residuals ---------------------------------------------


@dataclass(frozen=True)
class _Uncertainty:
    sigma_kw: FloatArray
    """(A, 2, 96): residual scale for workdays (0) and rest days (1)."""
    z_quantiles: FloatArray
    """(A, Q)."""
    rho: FloatArray
    """(A,)."""
    gamma: FloatArray
    """(A,)."""


def _nan_mean(a: FloatArray, axis: int | tuple[int, ...]) -> FloatArray:
    finite = np.isfinite(a)
    n = finite.sum(axis=axis)
    total = np.where(finite, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(n > 0, total / np.maximum(n, 1), np.nan), dtype=np.float64)


def _nan_quantiles(z: FloatArray, levels: FloatArray) -> FloatArray:
    """Quantiles of each row of z (A, n) ignoring NaN: (A, Q); NaN rows give NaN."""
    out = np.full((z.shape[0], levels.size), np.nan)
    finite = np.isfinite(z)
    if finite.all():
        return np.asarray(np.quantile(z, levels, axis=1).T, dtype=np.float64)
    common = np.asarray(finite.all(axis=0), dtype=bool)
    if common.any() and (finite == common[None]).all():
        # every row misses the same columns (days before the walk-forward's first
        # forecast): one call over the columns they all hold
        return np.asarray(np.quantile(z[:, common], levels, axis=1).T, dtype=np.float64)
    for a in range(z.shape[0]):
        row = z[a][finite[a]]
        if row.size:
            out[a] = np.quantile(row, levels)
    return out


def _uncertainty(
    resid: FloatArray, rest: BoolArray, config: LoadModelConfig
) -> _Uncertainty | None:
    """Residual scale, standardised quantiles and intraday terms from a residual window.

    resid: out-of-sample residuals (A, days, 96) in kW, NaN where none; rest: (days,).
    """
    n_assets = resid.shape[0]
    sq = _smooth(resid**2, config.residual_pool_intervals)
    overall = _nan_mean(sq, axis=1)  # (A, 96)
    if not np.isfinite(overall).any():
        return None
    scales = []
    for group in (False, True):
        sel = rest == group
        ms = _nan_mean(sq[:, sel], axis=1) if sel.sum() >= 4 else overall
        scales.append(np.sqrt(np.maximum(np.where(np.isfinite(ms), ms, overall), 0.0)))
    sigma = np.stack(scales, axis=1)
    # A floor keeps an asset that was exactly predictable at night from getting zero-width
    # bands (and infinite standardised residuals).
    peak = np.nanmax(np.where(np.isfinite(sigma), sigma, 0.0), axis=(1, 2), keepdims=True)
    floor = np.maximum(0.05 * peak, 1e-9)
    sigma = np.maximum(np.where(np.isfinite(sigma), sigma, floor), floor)

    row_sigma = np.where(rest[None, :, None], sigma[:, 1:2], sigma[:, 0:1])
    z = (resid / row_sigma).reshape(n_assets, -1)
    zq = _nan_quantiles(z, np.asarray(config.quantiles, dtype=np.float64))

    lag0, lag1 = resid[..., :-1], resid[..., 1:]
    both = np.isfinite(lag0) & np.isfinite(lag1)
    num = np.where(both, lag0 * lag1, 0.0).sum(axis=(1, 2))
    den = np.where(both, lag0 * lag0, 0.0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(np.where(den > 0, num / np.maximum(den, 1e-300), 0.0), 0.0, 0.99)
    gamma = _level_gain(resid, rho)
    return _Uncertainty(sigma, zq, rho, gamma)


def _level_gain(resid: FloatArray, rho: FloatArray) -> FloatArray:
    """γ: how much of the last 4 h's mean residual persists beyond the AR(1) decay."""
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    for now in range(_RECENT_HOURS_INTERVALS, _K - 4, 8):
        recent = _nan_mean(resid[..., now - _RECENT_HOURS_INTERVALS : now], axis=-1)  # (A, D)
        last = resid[..., now - 1]
        for h in (4, 8, 16):
            k = now - 1 + h
            if k >= _K:
                continue
            decay = rho[:, None] ** h
            xs.append((1.0 - decay) * recent)
            ys.append(resid[..., k] - decay * last)
    x = np.stack(xs, axis=-1)
    y = np.stack(ys, axis=-1)
    ok = np.isfinite(x) & np.isfinite(y)
    num = np.where(ok, x * y, 0.0).sum(axis=(1, 2))
    den = np.where(ok, x * x, 0.0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(
            np.clip(np.where(den > 0, num / np.maximum(den, 1e-300), 0.0), 0.0, 1.0),
            dtype=np.float64,
        )


# --- the walk-forward engine ----------------------------------------------------------------


@dataclass(frozen=True)
class WalkForward:
    """Out-of-sample forecasts of every row, each fitted on what was known at its issue."""

    mean_kw: FloatArray
    """Point forecasts (assets, days, 96); NaN before `start`."""
    quantile_kw: FloatArray
    """(assets, len(quantiles), days, 96); NaN where no quantile could be estimated."""
    coefficients: FloatArray
    """β used for each row, (assets, days, features)."""
    sigma_kw: FloatArray
    """Residual scale per row, class and interval, (assets, days, 2, 96)."""
    z_quantiles: FloatArray
    """Standardised residual quantiles per row, (assets, days, len(quantiles))."""
    ar_rho: FloatArray
    """Intraday AR(1) coefficient per row, (assets, days)."""
    level_gain: FloatArray
    """Intraday level weight per row, (assets, days)."""


def _day_weights(values: FloatArray, expected: FloatArray) -> FloatArray:
    """Training weight of each day (A, D): 1, or less for a day unlike its similar days.

    A day's anomaly is the RMS of its load minus its own similar-day expectation
    (`expected`: every day's `_expected`, (A, D, 96));
    a day whose anomaly exceeds the median anomaly of the `_WEIGHT_WINDOW_DAYS` days up to it
    is weighted by (median / anomaly)², as for an observation of that much larger variance.
    Uses nothing after the day itself; days without an expectation weigh 1.
    """
    anomaly = np.sqrt(_nan_mean((values - expected) ** 2, axis=-1))  # (A, D)
    pad = np.full((values.shape[0], _WEIGHT_WINDOW_DAYS - 1), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([pad, anomaly], axis=1), _WEIGHT_WINDOW_DAYS, axis=1
    )
    typical = nan_median(np.moveaxis(windows, -1, 0))  # NaN for an all-NaN window
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = typical / anomaly
    return np.asarray(
        np.where(np.isfinite(ratio), np.minimum(ratio, 1.0) ** 2, 1.0), dtype=np.float64
    )


def _fit_rows(
    feats: FloatArray,
    values: FloatArray,
    rows: IntArray,
    config: LoadModelConfig,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Ridge coefficients (A, len(rows), features) for each forecast row (increasing).

    `weights` (A, D) weigh each day's rows in the fit (`_day_weights`), default 1.
    """
    n_assets, n_days = values.shape[:2]
    usable = np.isfinite(feats).all(axis=2) & np.isfinite(values)
    f0 = np.where(usable[:, :, None, :], feats, 0.0)
    y0 = np.where(usable, values, 0.0)
    w = np.ones((n_assets, n_days)) if weights is None else weights
    gram = np.matmul(f0, f0.transpose(0, 1, 3, 2)) * w[:, :, None, None]
    moment = np.matmul(f0, (y0 * w[:, :, None])[..., None])[..., 0]
    sq = np.einsum("adk,adk->ad", y0, y0)
    count = usable.sum(axis=-1).astype(np.float64)

    decay = 0.5 ** (1.0 / config.half_life_days)
    prior = _prior()
    eye = np.eye(_N_FEATURES)
    g_acc = np.zeros((n_assets, _N_FEATURES, _N_FEATURES))
    m_acc = np.zeros((n_assets, _N_FEATURES))
    s_acc = np.zeros(n_assets)
    n_acc = np.zeros(n_assets)
    coef = np.zeros((n_assets, rows.size, _N_FEATURES))
    added = -1
    for i, d in enumerate(rows):
        while added < min(d - config.min_lag, n_days - 1):
            added += 1
            g_acc = g_acc * decay + gram[:, added]
            m_acc = m_acc * decay + moment[:, added]
            s_acc = s_acc * decay + sq[:, added]
            n_acc = n_acc * decay + count[:, added]
        # Ridge towards the prior β0, weighted as `prior_weight_days` days of rows at the
        # asset's typical squared load, so the penalty scales with the asset.
        typical_sq = np.where(n_acc > 0, s_acc / np.maximum(n_acc, 1.0), 1.0)
        lam = config.prior_weight_days * _K * np.maximum(typical_sq, 1e-12)
        lhs = g_acc + lam[:, None, None] * eye
        rhs = m_acc + lam[:, None] * prior
        coef[:, i] = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    return coef


def walk_forward(
    values: FloatArray,
    days: Sequence[date],
    config: LoadModelConfig = LoadModelConfig(),
    *,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
    start: int = 0,
    uncertainty_rows: IntArray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForward:
    """Forecast rows `start`.. of `values` (assets, days, 96; kW) one day at a time.

    Row d is forecast with coefficients fitted on rows <= d - min_lag only and with
    features that read only what was measured at its issue time (D-1 at
    `known_intervals`); its quantiles and intraday terms come from the residuals of the
    `residual_window_days` rows before that (computed for `uncertainty_rows`, default
    every forecast row). This is the replay behind the backtest and behind
    `fit_load_model`. `progress(done, total)` is called as rows complete.
    """
    n_assets, n_days, _ = values.shape
    types = day_types(days, holidays, extra_workdays)
    rest = day_classes(types) != DayClass.WORKDAY
    all_rows = np.arange(n_days, dtype=np.int64)
    rows = all_rows[start:]
    padded = _Padded.of(values)
    expected = _expected(padded, day_classes(types), all_rows)  # shared by both below
    feats = _features(values, types, all_rows, config, padded, expected)
    coef_rows = _fit_rows(feats, values, rows, config, _day_weights(values, expected))
    coef = np.full((n_assets, n_days, _N_FEATURES), np.nan)
    coef[:, start:] = coef_rows
    mean = np.einsum("adfk,adf->adk", feats, np.nan_to_num(coef))
    mean[:, :start] = np.nan

    n_q = len(config.quantiles)
    sigma = np.full((n_assets, n_days, 2, _K), np.nan)
    zq = np.full((n_assets, n_days, n_q), np.nan)
    rho = np.zeros((n_assets, n_days))
    gamma = np.zeros((n_assets, n_days))
    resid = values - mean
    todo = rows if uncertainty_rows is None else uncertainty_rows
    for done, d in enumerate(todo, start=1):
        if progress is not None:
            progress(done, todo.size)
        hi = d - config.min_lag + 1
        lo = max(hi - config.residual_window_days, start)
        if hi - lo < 7:
            continue
        unc = _uncertainty(resid[:, lo:hi], rest[lo:hi], config)
        if unc is None:
            continue
        sigma[:, d], zq[:, d], rho[:, d], gamma[:, d] = (
            unc.sigma_kw,
            unc.z_quantiles,
            unc.rho,
            unc.gamma,
        )
    row_sigma = np.where(rest[None, :, None], sigma[:, :, 1], sigma[:, :, 0])  # (A, D, 96)
    quant = mean[:, None] + row_sigma[:, None] * np.moveaxis(zq, -1, 1)[..., None]
    return WalkForward(mean, quant, coef, sigma, zq, rho, gamma)


def intraday_correction(
    residual_kw: FloatArray,
    last_measured: IntArray,
    rho: FloatArray,
    gamma: FloatArray,
) -> FloatArray:
    """Expected residual (kW) of every interval after the last measured one, per asset.

    residual_kw: measured minus day-ahead forecast (A, 96), NaN where not measured;
    last_measured: index of the last measured interval per asset (-1: none). For interval
    k = j + h after it: ρ^h·e[j] + (1 - ρ^h)·γ·mean(e over the 4 h up to j). Intervals up
    to j get 0 (they are measured).
    """
    n_assets = residual_kw.shape[0]
    k = np.arange(_K)[None, :]
    j = last_measured[:, None]
    h = (k - j).astype(np.float64)
    have = last_measured >= 0
    jc = np.maximum(last_measured, 0)
    last = np.where(have, residual_kw[np.arange(n_assets), jc], 0.0)
    window = (k > j - _RECENT_HOURS_INTERVALS) & (k <= j)
    recent = _nan_mean(np.where(window, residual_kw, np.nan), axis=-1)
    recent = np.where(np.isfinite(recent), recent, 0.0)
    last = np.where(np.isfinite(last), last, recent)
    decay = np.where(h > 0, rho[:, None] ** np.maximum(h, 0.0), 1.0)
    corr = decay * last[:, None] + (1.0 - decay) * (gamma * recent)[:, None]
    return np.where((h > 0) & have[:, None], corr, 0.0)


# --- public API -----------------------------------------------------------------------------


def _window_history(
    history: LoadHistory, day: date, config: LoadModelConfig
) -> tuple[list[date], FloatArray]:
    """Days and values through `day` (its row all NaN), d-1 cut at the issue time."""
    first = history.days[0]
    n = (day - first).days + 1
    if n <= 0:
        raise ValueError("the day to forecast is before the history starts")
    values = np.full((len(history.asset_ids), n, _K), np.nan)
    keep = min(n - 1, len(history.days))
    values[:, :keep] = history.power_kw[:, :keep]
    if n >= 2 and config.known_intervals < _K:
        values[:, -2, config.known_intervals :] = np.nan
    return market_days(first, day), values


def fit_load_model(
    history: LoadHistory,
    day: date,
    config: LoadModelConfig = LoadModelConfig(),
    *,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
    chunk_assets: int = 64,
) -> LoadModel:
    """Fit the load model to forecast market day `day` from `history` (kW, cleaned).

    Uses history up to day d-2 and the first `config.known_intervals` of d-1, whatever else
    it holds. Confidence per asset follows `assess_history` on that history: OK fits the
    model; LOW (< `min_history_days` complete days) falls back to the prior β0 (a
    similar-day average) with bands from the history's own spread; NONE forecasts nothing.
    Assets are processed in chunks of `chunk_assets` to bound memory.
    """
    days, values = _window_history(history, day, config)
    n_assets, n_days, _ = values.shape
    window = config.residual_window_days + config.min_lag
    start = max(0, n_days - 1 - window)
    n_q = len(config.quantiles)
    coef = np.empty((n_assets, _N_FEATURES))
    sigma = np.empty((n_assets, 2, _K))
    zq = np.empty((n_assets, n_q))
    rho = np.empty(n_assets)
    gamma = np.empty(n_assets)
    for lo in range(0, n_assets, chunk_assets):
        hi = min(lo + chunk_assets, n_assets)
        wf = walk_forward(
            values[lo:hi],
            days,
            config,
            holidays=holidays,
            extra_workdays=extra_workdays,
            start=start,
            uncertainty_rows=np.array([n_days - 1], dtype=np.int64),
        )
        coef[lo:hi] = wf.coefficients[:, -1]
        sigma[lo:hi] = wf.sigma_kw[:, -1]
        zq[lo:hi] = wf.z_quantiles[:, -1]
        rho[lo:hi] = wf.ar_rho[:, -1]
        gamma[lo:hi] = wf.level_gain[:, -1]

    confidence = []
    reasons = []
    for a in range(n_assets):
        verdict = assess_history(values[a, :-1], min_complete_days=config.min_history_days)
        level, reason = verdict.confidence, verdict.reason
        if level == Confidence.OK and not np.isfinite(sigma[a]).all():
            level = Confidence.LOW
            reason = f"{reason}, too few of them forecast yet to fit its bands"
        confidence.append(level)
        reasons.append(reason)
        if level != Confidence.OK:
            coef[a] = _prior()
            sigma[a], zq[a] = _fallback_band(values[a, :-1], config)
            rho[a], gamma[a] = 0.0, 0.0
    return LoadModel(
        config=config,
        asset_ids=history.asset_ids,
        day=day,
        coefficients=coef,
        residual_scale_kw=sigma,
        z_quantiles=zq,
        ar_rho=rho,
        level_gain=gamma,
        confidence=tuple(confidence),
        holidays=holidays,
        extra_workdays=extra_workdays,
        confidence_reasons=tuple(reasons),
    )


def _fallback_band(values: FloatArray, config: LoadModelConfig) -> tuple[FloatArray, FloatArray]:
    """Wide bands for a LOW-confidence asset: the spread of its load itself, normal quantiles.

    The day-to-day spread of the load at each interval of day (pooled ±4 intervals) is wider
    than a fitted model's residuals, so the band says "we do not know much yet".
    """
    spread = _nan_mean(
        _smooth((values - _nan_mean(values, axis=0)[None]) ** 2, config.residual_pool_intervals),
        axis=0,
    )
    level = _nan_mean(np.abs(values), axis=(0, 1))
    floor = 0.25 * float(level) if np.isfinite(level) else 0.0
    sigma = np.sqrt(np.where(np.isfinite(spread), np.maximum(spread, floor**2), floor**2))
    z = np.array([NormalDist().inv_cdf(q) for q in config.quantiles])
    return np.stack([sigma, sigma]), z


def _prediction_view(history: LoadHistory, day: date) -> tuple[FloatArray, date]:
    """The history rows that forecasting `day` reads (up to d-1), and the first one's date.

    A view (no copy) when the history reaches d-1; padded with NaN days when it ends
    earlier. Rows beyond the issue time are never read by `_features` for the target row
    (only rows <= d-2 and d-1's first `known_intervals`), so nothing needs masking.
    """
    first = max(history.days[0], day - timedelta(days=_PREDICT_LOOKBACK_DAYS))
    offset = (first - history.days[0]).days
    n = (day - first).days  # rows first .. d-1
    if n <= 0:
        raise ValueError("the day to forecast must come after the history starts")
    if offset + n <= len(history.days):
        return history.power_kw[:, offset : offset + n], first
    padded = np.full((len(history.asset_ids), n, _K), np.nan)
    have = len(history.days) - offset
    padded[:, :have] = history.power_kw[:, offset:]
    return padded, first


def predict_day_ahead(model: LoadModel, history: LoadHistory) -> LoadForecast:
    """Apply a fitted model to `history` (same assets, kW) for `model.day`.

    Only the features of that one day are computed, so prediction is cheap for many
    assets. Assets with confidence NONE get NaN.
    """
    if history.asset_ids != model.asset_ids:
        raise ValueError("history and model must list the same assets in the same order")
    config = model.config
    values, first = _prediction_view(history, model.day)
    days = market_days(first, model.day)
    types = day_types(days, model.holidays, model.extra_workdays)
    row = np.array([len(days) - 1], dtype=np.int64)
    feats = _features(values, types, row, config)[:, 0]  # (A, F, 96)
    mean = np.einsum("afk,af->ak", feats, model.coefficients)
    rest = int(day_classes(types[-1:])[0] != DayClass.WORKDAY)
    sigma = model.residual_scale_kw[:, rest]  # (A, 96)
    quant = mean[:, None, :] + sigma[:, None, :] * model.z_quantiles[:, :, None]
    quant = np.sort(quant, axis=1)
    none = np.array([c == Confidence.NONE for c in model.confidence])
    mean[none] = np.nan
    quant[none] = np.nan
    return LoadForecast(
        day=model.day,
        asset_ids=model.asset_ids,
        mean_kw=mean,
        quantiles=config.quantiles,
        quantile_kw=quant,
        confidence=model.confidence,
        method="similar-day ridge",
        confidence_reasons=model.confidence_reasons,
    )


def forecast_day_ahead(
    history: LoadHistory,
    day: date,
    config: LoadModelConfig = LoadModelConfig(),
    *,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
) -> LoadForecast:
    """Fit and predict in one call: the day-ahead forecast of market day `day` (kW)."""
    model = fit_load_model(history, day, config, holidays=holidays, extra_workdays=extra_workdays)
    return predict_day_ahead(model, history)


def forecast_from_telemetry(
    telemetry: Mapping[str, pd.Series],
    day: date,
    config: LoadModelConfig = LoadModelConfig(),
    *,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
    rules: CleaningRules | None = None,
    history_days: int = 200,
) -> tuple[LoadForecast, dict[str, QualityReport]]:
    """Clean raw telemetry per asset (kW, aware index), then forecast market day `day`.

    Returns the forecast and each asset's `QualityReport`. Cleaning never invents long
    stretches (`vpp.forecast.quality`), so an asset with too little clean history comes
    back with confidence LOW (fallback, wide band) or NONE (NaN) rather than a confident
    number. Only the last `history_days` days before `day` are used.
    """
    return forecast_from_readings(
        {asset: readings_of(series) for asset, series in telemetry.items()},
        day,
        config,
        holidays=holidays,
        extra_workdays=extra_workdays,
        rules=rules,
        history_days=history_days,
    )


def forecast_from_readings(
    readings: Mapping[str, tuple[IntArray, FloatArray]],
    day: date,
    config: LoadModelConfig = LoadModelConfig(),
    *,
    holidays: frozenset[date] = frozenset(),
    extra_workdays: frozenset[date] = frozenset(),
    rules: CleaningRules | None = None,
    history_days: int = 200,
) -> tuple[LoadForecast, dict[str, QualityReport]]:
    """`forecast_from_telemetry` on plain arrays: each asset's readings as (UTC nanoseconds
    since the epoch, kW), in the order received. A block of assets is cleaned and laid
    out as market days without a pandas object per asset."""
    rules = rules or CleaningRules()
    cleaned = {asset: clean_readings(stamps, kw, rules) for asset, (stamps, kw) in readings.items()}
    first = day - timedelta(days=history_days)
    last = day - timedelta(days=1)
    # Days before the earliest reading would only be trimmed again (`from_first_reading`).
    starts = [c.start_ns for c in cleaned.values() if c.values.size]
    if starts:
        first = min(max(first, market_day_at(min(starts))), last)
    days = market_days(first, last)
    power = np.full((len(cleaned), len(days), _K), np.nan)
    for row, c in zip(power, cleaned.values(), strict=True):
        place_grid(row, c.start_ns, c.values, first)
    history = LoadHistory(tuple(cleaned), tuple(days), power).from_first_reading()
    forecast = forecast_day_ahead(
        history, day, config, holidays=holidays, extra_workdays=extra_workdays
    )
    return forecast, {asset: c.report for asset, c in cleaned.items()}


def update_intraday(
    forecast: LoadForecast, model: LoadModel, measured_kw: FloatArray
) -> LoadForecast:
    """Re-forecast the rest of the day from the intervals of it measured so far.

    measured_kw: (assets, 96) in kW, NaN where not measured yet. Measured intervals take
    their measured value (bands collapse onto it); later ones get the day-ahead forecast
    plus `intraday_correction`, bands shifted with it and narrowed by sqrt(1 - ρ^(2h)).
    """
    measured = np.asarray(measured_kw, dtype=np.float64)
    if measured.shape != forecast.mean_kw.shape:
        raise ValueError(f"measured_kw must have shape {forecast.mean_kw.shape}")
    finite = np.isfinite(measured)
    idx = np.arange(_K)
    last = np.where(finite.any(axis=1), np.max(np.where(finite, idx, -1), axis=1), -1)
    resid = measured - forecast.mean_kw
    corr = intraday_correction(resid, last, model.ar_rho, model.level_gain)
    h = np.maximum(idx[None, :] - last[:, None], 0).astype(np.float64)
    narrow = np.sqrt(np.maximum(1.0 - model.ar_rho[:, None] ** (2.0 * h), 0.0))
    narrow = np.where(last[:, None] >= 0, narrow, 1.0)
    mean = forecast.mean_kw + corr
    spread = (forecast.quantile_kw - forecast.mean_kw[:, None]) * narrow[:, None]
    quant = mean[:, None] + spread
    mean = np.where(finite, measured, mean)
    quant = np.where(finite[:, None], measured[:, None], quant)
    return replace(
        forecast,
        mean_kw=mean,
        quantile_kw=quant,
        measured_until=int(last.max()) + 1,
        method=forecast.method + " + intraday",
    )
