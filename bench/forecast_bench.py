"""Forecast benchmarks: training + prediction time for many assets, and day-ahead accuracy.

`run(quick)` returns records ``{"name", "value", "unit", "target"}``:

- ``forecast_train_predict_1000_s``: fit the load model (walk-forward residuals and
  quantiles included) and predict one day for 1,000 assets x 96 intervals with 140 days of
  history each; median of 3 runs (quick: 100 assets, 1 run).
- ``forecast_predict_10000_s``: day-ahead prediction for 10,000 assets from a fitted model
  (quick: 1,000), median of 3 runs. The 10,000-asset model is the 1,000-asset one repeated:
  prediction costs the same whatever the coefficients.
- ``forecast_nrmse_commercial_dayahead``: the backtest's acceptance measure on the 13
  SimBench commercial profiles (median over profiles of the median daily NRMSE, days 36-366).

The synthetic fleets are the vendored SimBench profiles, each asset a random profile read
from a random day of the year, scaled to 50-2,000 kW with 5 % multiplicative noise:
real shapes, so the timing covers realistic feature and solver work.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from bench.core import Benchmark, Context, Result
from vpp.forecast.backtest import MODEL, run_backtest
from vpp.forecast.calendar import market_days
from vpp.forecast.datasets import SIMBENCH_2016_HOLIDAYS, read_commercial_profiles
from vpp.forecast.model import (
    LoadHistory,
    LoadModel,
    fit_load_model,
    predict_day_ahead,
)

HISTORY_DAYS = 140
FIRST_DAY = date(2026, 1, 5)


def synthetic_fleet(n_assets: int, n_days: int, seed: int = 0) -> LoadHistory:
    """`n_assets` histories of `n_days` days (kW) built from the vendored SimBench profiles."""
    frame = read_commercial_profiles()
    profiles = frame.to_numpy().T.reshape(frame.shape[1], -1, 96)  # (13, 366, 96)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, profiles.shape[0], n_assets)
    start = rng.integers(0, profiles.shape[1], n_assets)
    days = (start[:, None] + np.arange(n_days)[None, :]) % profiles.shape[1]
    values = profiles[which[:, None], days]  # (assets, days, 96)
    values = values * rng.uniform(50.0, 2000.0, n_assets)[:, None, None]
    values *= 1.0 + 0.05 * rng.standard_normal(values.shape)
    ids = tuple(f"asset-{i:05d}" for i in range(n_assets))
    return LoadHistory(
        ids, tuple(market_days(FIRST_DAY, FIRST_DAY + timedelta(n_days - 1))), values
    )


def _median_time(repeats: int, work: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _tile(model: LoadModel, n_assets: int) -> LoadModel:
    reps = -(-n_assets // len(model.asset_ids))

    def grow(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a] * reps, axis=0)[:n_assets]

    return replace(
        model,
        asset_ids=tuple(f"asset-{i:05d}" for i in range(n_assets)),
        coefficients=grow(model.coefficients),
        residual_scale_kw=grow(model.residual_scale_kw),
        z_quantiles=grow(model.z_quantiles),
        ar_rho=grow(model.ar_rho),
        level_gain=grow(model.level_gain),
        confidence=tuple(model.confidence[i % len(model.confidence)] for i in range(n_assets)),
        confidence_reasons=tuple(
            model.confidence_reasons[i % len(model.confidence_reasons)] for i in range(n_assets)
        ),
    )


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the forecast benchmarks; `quick` uses a tenth of the assets and single runs."""
    n_train = 100 if quick else 1000
    n_predict = 1000 if quick else 10_000
    repeats = 1 if quick else 3
    fleet = synthetic_fleet(n_train, HISTORY_DAYS)
    day = fleet.days[-1] + timedelta(days=1)

    def train_predict() -> LoadModel:
        model = fit_load_model(fleet, day, holidays=SIMBENCH_2016_HOLIDAYS)
        forecast = predict_day_ahead(model, fleet)
        if not np.isfinite(forecast.mean_kw).all():
            raise RuntimeError("forecast has missing values")
        return model

    train_s, model = _median_time(repeats, train_predict)

    big = synthetic_fleet(n_predict, HISTORY_DAYS, seed=1)
    big_model = _tile(model, n_predict)

    def predict() -> None:
        forecast = predict_day_ahead(big_model, big)
        if forecast.mean_kw.shape != (n_predict, 96):
            raise RuntimeError("unexpected forecast shape")

    predict_s, _ = _median_time(repeats, predict)

    result = run_backtest(
        read_commercial_profiles(), holidays=SIMBENCH_2016_HOLIDAYS, methods=(MODEL,)
    )
    return [
        {"name": "forecast_train_predict_1000_s", "value": train_s, "unit": "s", "target": 60.0},
        {"name": "forecast_predict_10000_s", "value": predict_s, "unit": "s", "target": 10.0},
        {
            "name": "forecast_nrmse_commercial_dayahead",
            "value": result.score(MODEL).nrmse,
            "unit": "fraction",
            "target": 0.17,
        },
    ]


def _as_results(ctx: Context) -> list[Result]:
    notes = {
        "forecast_train_predict_1000_s": "1,000 assets x 96 intervals, 140 days of history each",
        "forecast_predict_10000_s": "10,000 assets day-ahead, vectorised across assets",
        "forecast_nrmse_commercial_dayahead": "13 SimBench G profiles, days 36-366, median",
    }
    return [
        Result(r["name"], float(r["value"]), r["unit"], r["target"], "<=", notes[r["name"]])
        for r in run(ctx.quick)
    ]


BENCHMARKS = [
    Benchmark(
        "forecast",
        (
            "forecast_train_predict_1000_s",
            "forecast_predict_10000_s",
            "forecast_nrmse_commercial_dayahead",
        ),
        _as_results,
        description="load-forecast training, prediction and day-ahead accuracy",
    )
]


if __name__ == "__main__":  # pragma: no cover
    import sys

    for record in run(quick="--quick" in sys.argv):
        name, value, unit = record["name"], record["value"], record["unit"]
        print(f"{name:<40} {value:>10.3f} {unit:<9} target <= {record['target']}")
