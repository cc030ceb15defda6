"""Forecasting core (pure): baselines, load and PV forecasts, flexibility envelopes, backtest.

Imports nothing of ours but `vpp.domain`; numpy / pandas in, dataclasses out.
"""

from vpp.forecast.baselines import (
    AdjustmentKind,
    Baseline,
    MorningAdjustment,
    high_x_of_y_baseline,
    similar_days_baseline,
)
from vpp.forecast.calendar import DayClass, day_types, is_rest_day, to_day_matrix
from vpp.forecast.flexibility import (
    FlexEnvelope,
    PoolEnvelope,
    deviation_bounds,
    envelope,
    pool_envelope,
    pv_curtailment_bounds,
    robust_bounds,
)
from vpp.forecast.model import (
    LoadForecast,
    LoadHistory,
    LoadModel,
    LoadModelConfig,
    fit_load_model,
    forecast_day_ahead,
    forecast_from_readings,
    forecast_from_telemetry,
    predict_day_ahead,
    update_intraday,
)
from vpp.forecast.pv import PARK_SITE, PvForecast, Site, forecast_pv
from vpp.forecast.quality import (
    CleanedReadings,
    CleanedSeries,
    CleaningRules,
    Confidence,
    QualityReport,
    assess_history,
    clean_readings,
    clean_series,
)

__all__ = [
    "PARK_SITE",
    "AdjustmentKind",
    "Baseline",
    "CleanedReadings",
    "CleanedSeries",
    "CleaningRules",
    "Confidence",
    "DayClass",
    "FlexEnvelope",
    "LoadForecast",
    "LoadHistory",
    "LoadModel",
    "LoadModelConfig",
    "MorningAdjustment",
    "PoolEnvelope",
    "PvForecast",
    "QualityReport",
    "Site",
    "assess_history",
    "clean_readings",
    "clean_series",
    "day_types",
    "deviation_bounds",
    "envelope",
    "fit_load_model",
    "forecast_day_ahead",
    "forecast_from_readings",
    "forecast_from_telemetry",
    "forecast_pv",
    "high_x_of_y_baseline",
    "is_rest_day",
    "pool_envelope",
    "predict_day_ahead",
    "pv_curtailment_bounds",
    "robust_bounds",
    "similar_days_baseline",
    "to_day_matrix",
    "update_intraday",
]
