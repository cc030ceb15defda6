"""The forecast benchmark's building blocks (the timed run itself is `make bench`)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from bench.forecast_bench import _tile, synthetic_fleet
from vpp.forecast.model import fit_load_model, predict_day_ahead


def test_synthetic_fleet_and_tiled_model_predict() -> None:
    fleet = synthetic_fleet(6, 40)
    assert fleet.power_kw.shape == (6, 40, 96)
    assert np.isfinite(fleet.power_kw).all()
    day = fleet.days[-1] + timedelta(days=1)
    model = fit_load_model(fleet, day)
    big = synthetic_fleet(15, 40, seed=1)
    tiled = _tile(model, 15)
    assert tiled.coefficients.shape[0] == 15
    forecast = predict_day_ahead(tiled, big)
    assert forecast.mean_kw.shape == (15, 96)
    assert np.isfinite(forecast.mean_kw).all()
