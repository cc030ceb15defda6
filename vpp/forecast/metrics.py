"""Forecast error measures over (profiles, days, 96) arrays of power (kW); NaN = not scored."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vpp.forecast.calendar import FloatArray


def _pairs(forecast: FloatArray, actual: FloatArray) -> tuple[FloatArray, FloatArray]:
    if forecast.shape != actual.shape:
        raise ValueError(f"shapes differ: {forecast.shape} vs {actual.shape}")
    ok = np.isfinite(forecast) & np.isfinite(actual)
    return np.where(ok, forecast - actual, np.nan), np.where(ok, actual, np.nan)


def mae(forecast: FloatArray, actual: FloatArray) -> float:
    """Mean absolute error (kW) over every scored interval."""
    err, _ = _pairs(forecast, actual)
    return float(np.nanmean(np.abs(err)))


def nmae(forecast: FloatArray, actual: FloatArray) -> float:
    """Sum of absolute errors over sum of |actual| (fraction): MAE relative to the mean load."""
    err, act = _pairs(forecast, actual)
    return float(np.nansum(np.abs(err)) / np.nansum(np.abs(act)))


def bias(forecast: FloatArray, actual: FloatArray) -> float:
    """Mean error over mean actual (fraction); positive = the forecast over-estimates."""
    err, act = _pairs(forecast, actual)
    return float(np.nansum(err) / np.nansum(act))


def daily_nrmse(forecast: FloatArray, actual: FloatArray, scale_kw: FloatArray) -> FloatArray:
    """RMSE of each profile-day over the profile's scale (its yearly mean): (profiles, days).

    NaN for a day with no scored interval.
    """
    err, _ = _pairs(forecast, actual)
    finite = np.isfinite(err)
    n = finite.sum(axis=-1)
    sq = np.where(finite, err**2, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.where(n > 0, np.sqrt(sq / np.maximum(n, 1)), np.nan)
    return np.asarray(rmse / scale_kw[:, None], dtype=np.float64)


def median_nrmse(daily: FloatArray) -> float:
    """The acceptance measure: median over profiles of each profile's median daily NRMSE.

    This reproduces the issue's reference numbers (0.244 for "same weekday last week" on
    the SimBench G profiles); `pooled_median_nrmse` is the median over all profile-days.
    """
    per_profile = [np.median(row[np.isfinite(row)]) for row in daily if np.isfinite(row).any()]
    return float(np.median(per_profile)) if per_profile else float("nan")


def pooled_median_nrmse(daily: FloatArray) -> float:
    """Median of the daily NRMSE over all profile-days together."""
    return float(np.nanmedian(daily))


def per_profile_nrmse(daily: FloatArray) -> FloatArray:
    """Median daily NRMSE per profile: (profiles,)."""
    return np.asarray(
        [np.median(r[np.isfinite(r)]) if np.isfinite(r).any() else np.nan for r in daily],
        dtype=np.float64,
    )


def pinball_loss(quantile_kw: FloatArray, actual: FloatArray, levels: Sequence[float]) -> float:
    """Mean pinball (quantile) loss (kW) over quantiles and scored intervals.

    quantile_kw: (profiles, Q, days, 96). For level q and outcome y:
    q·(y - f) if y >= f else (1 - q)·(f - y).
    """
    losses = []
    for j, q in enumerate(levels):
        diff = actual - quantile_kw[:, j]
        ok = np.isfinite(diff)
        loss = np.where(diff >= 0, q * diff, (q - 1.0) * diff)
        losses.append(float(loss[ok].mean()))
    return float(np.mean(losses))


def coverage(lower_kw: FloatArray, upper_kw: FloatArray, actual: FloatArray) -> float:
    """Fraction of scored outcomes within [lower, upper]."""
    ok = np.isfinite(lower_kw) & np.isfinite(upper_kw) & np.isfinite(actual)
    inside = (actual >= lower_kw) & (actual <= upper_kw)
    return float(inside[ok].mean())
