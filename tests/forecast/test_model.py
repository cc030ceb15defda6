"""Load model: exact on periodic loads, no look-ahead, honest confidence, sane quantiles."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest

from vpp.forecast.calendar import market_days
from vpp.forecast.model import (
    LoadHistory,
    LoadModelConfig,
    fit_load_model,
    forecast_day_ahead,
    forecast_from_telemetry,
    predict_day_ahead,
    update_intraday,
    walk_forward,
)
from vpp.forecast.quality import Confidence, clean_series

FIRST = date(2026, 1, 5)  # a Monday


BUMP = np.clip(np.sin(np.pi * (np.arange(96) - 28) / 48), 0.0, None) ** 2  # 07:00-19:00


def weekly_values(n_days: int, holidays: frozenset[date] = frozenset()) -> np.ndarray:
    """Workdays peak at 100 kW, Saturdays at 50, Sundays and holidays flat; 30 kW at night."""
    out = np.full((n_days, 96), 30.0)
    for i, day in enumerate(market_days(FIRST, FIRST + timedelta(days=n_days - 1))):
        if day in holidays or day.weekday() == 6:
            continue
        out[i] += (70.0 if day.weekday() < 5 else 20.0) * BUMP
    return out


def history_of(values: np.ndarray, ids: tuple[str, ...] | None = None) -> LoadHistory:
    if values.ndim == 2:
        values = values[None]
    n_days = values.shape[1]
    ids = ids or tuple(f"a{i}" for i in range(values.shape[0]))
    return LoadHistory(ids, tuple(market_days(FIRST, FIRST + timedelta(days=n_days - 1))), values)


def test_a_periodic_load_is_forecast_exactly() -> None:
    values = weekly_values(71)
    hist = history_of(values[:70])
    day = hist.days[-1] + timedelta(days=1)
    forecast = forecast_day_ahead(hist, day)
    np.testing.assert_allclose(forecast.mean_kw[0], values[70], atol=0.5)
    assert forecast.confidence == (Confidence.OK,)
    assert forecast.quantile_kw.shape == (1, 3, 96)


def test_holidays_are_forecast_like_sundays() -> None:
    holiday = FIRST + timedelta(days=65)  # a Wednesday
    assert holiday.weekday() == 2
    values = weekly_values(70, frozenset({holiday}))
    hist = history_of(values[:65])
    plain = forecast_day_ahead(hist, holiday)
    aware = forecast_day_ahead(hist, holiday, holidays=frozenset({holiday}))
    assert plain.mean_kw[0, 52] == pytest.approx(100.0, abs=0.5)
    assert aware.mean_kw[0, 52] == pytest.approx(30.0, abs=0.5)


def test_the_forecast_only_reads_what_is_measured_at_issue_time() -> None:
    rng = np.random.default_rng(7)
    values = weekly_values(60) + rng.normal(0, 5, (60, 96))
    day = FIRST + timedelta(days=59)
    config = LoadModelConfig(known_intervals=40)
    base = forecast_day_ahead(history_of(values), day, config).mean_kw
    tampered = values.copy()
    tampered[-1] += 1000.0  # the target day itself
    tampered[-2, 40:] += 1000.0  # d-1 after the issue time
    again = forecast_day_ahead(history_of(tampered), day, config).mean_kw
    np.testing.assert_array_equal(base, again)
    tampered[-2, :40] += 50.0  # d-1 morning is measured and should move the forecast
    moved = forecast_day_ahead(history_of(tampered), day, config).mean_kw
    assert not np.allclose(base, moved)


def test_fit_then_predict_equals_the_walk_forward_replay() -> None:
    rng = np.random.default_rng(3)
    values = np.stack([weekly_values(240) * s for s in (1.0, 2.5)])
    values = values + rng.normal(0, 4, values.shape)
    hist = history_of(values)
    wf = walk_forward(values, hist.days, start=150)
    day = hist.days[235]  # more history than prediction reads: the cut must not matter
    model = fit_load_model(hist, day)
    forecast = predict_day_ahead(model, hist)
    np.testing.assert_allclose(forecast.mean_kw, wf.mean_kw[:, 235], rtol=1e-9)
    np.testing.assert_allclose(forecast.quantile_kw, wf.quantile_kw[:, :, 235], rtol=1e-9)


def test_quantiles_are_ordered_and_cover_about_eighty_percent() -> None:
    rng = np.random.default_rng(11)
    values = weekly_values(150)[None] + rng.normal(0, 6, (3, 150, 96))
    wf = walk_forward(values, history_of(values).days, start=20)
    q = wf.quantile_kw[:, :, 80:]
    assert np.all(np.diff(q, axis=1) >= 0)
    actual = values[:, 80:]
    inside = np.mean((actual >= q[:, 0]) & (actual <= q[:, 2]))
    assert 0.72 <= inside <= 0.88


def test_thin_history_gives_a_flagged_fallback_and_none_gives_nothing() -> None:
    values = np.full((3, 30, 96), np.nan)
    values[0] = weekly_values(30)
    values[1, -6:] = weekly_values(30)[-6:]
    hist = history_of(values, ("full", "thin", "empty"))
    forecast = forecast_day_ahead(hist, hist.days[-1] + timedelta(days=1))
    assert forecast.confidence == (Confidence.OK, Confidence.LOW, Confidence.NONE)
    assert forecast.confidence_reasons == (  # D-1 is known only until 10:00
        "29 complete day(s) of history",
        "only 5 complete day(s) of history (< 14)",
        "no complete day of history",
    )
    assert np.isfinite(forecast.mean_kw[:2]).all()
    assert np.isnan(forecast.mean_kw[2]).all()
    ok_band = forecast.quantile_kw[0, 2] - forecast.quantile_kw[0, 0]
    low_band = forecast.quantile_kw[1, 2] - forecast.quantile_kw[1, 0]
    assert low_band.mean() > ok_band.mean()


def test_missing_intervals_in_history_do_not_break_the_forecast() -> None:
    values = weekly_values(60)
    values[40:45, 10:30] = np.nan
    values[50] = np.nan
    forecast = forecast_day_ahead(history_of(values[:59]), FIRST + timedelta(days=59))
    assert np.isfinite(forecast.mean_kw).all()
    np.testing.assert_allclose(forecast.mean_kw[0], values[-1], atol=0.5)


def test_intraday_update_follows_the_measured_deviation() -> None:
    rng = np.random.default_rng(5)
    # Residuals that persist: a level per day plus AR(1) noise, as real loads show.
    noise = np.zeros((60, 96))
    for k in range(1, 96):
        noise[:, k] = 0.8 * noise[:, k - 1] + rng.normal(0, 2, 60)
    values = weekly_values(60) + rng.normal(0, 8, (60, 1)) + noise
    hist = history_of(values[:59])
    day = FIRST + timedelta(days=59)
    model = fit_load_model(hist, day)
    forecast = predict_day_ahead(model, hist)
    measured = np.full((1, 96), np.nan)
    measured[0, :48] = forecast.mean_kw[0, :48] + 20.0  # running 20 kW high all morning
    updated = update_intraday(forecast, model, measured)
    np.testing.assert_array_equal(updated.mean_kw[0, :48], measured[0, :48])
    lift = updated.mean_kw[0, 48:] - forecast.mean_kw[0, 48:]
    assert lift[0] > 10.0
    assert np.all(lift >= -1e-9)
    assert np.all(np.diff(lift) <= 1e-9)  # the correction decays with the horizon
    assert updated.measured_until == 48
    assert np.all(np.diff(updated.quantile_kw[0], axis=0) >= -1e-9)


def test_history_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        LoadHistory(("a",), (FIRST,), np.zeros((1, 2, 96)))
    with pytest.raises(ValueError, match="consecutive"):
        LoadHistory(("a",), (FIRST, FIRST + timedelta(days=2)), np.zeros((1, 2, 96)))
    with pytest.raises(ValueError, match="known_intervals"):
        LoadModelConfig(known_intervals=97)


def test_history_from_series_and_forecast_frame() -> None:
    from tests.forecast.conftest import day_series

    days = market_days(FIRST, FIRST + timedelta(days=29))
    series = day_series({d: v for d, v in zip(days, weekly_values(30), strict=True)})
    hist = LoadHistory.from_series({"office": series})
    assert hist.days[0] == FIRST
    assert hist.power_kw.shape == (1, 30, 96)
    forecast = forecast_day_ahead(hist, days[-1] + timedelta(days=1))
    frame = forecast.frame("office")
    assert list(frame.columns) == ["mean_kw", "p10_kw", "p50_kw", "p90_kw"]
    assert len(frame) == 96
    full = replace(LoadModelConfig(), known_intervals=96)
    assert full.min_lag == 1


def test_forecast_from_raw_telemetry_reports_and_flags() -> None:
    from tests.forecast.conftest import day_series

    days = market_days(FIRST, FIRST + timedelta(days=59))
    good = day_series({d: v for d, v in zip(days, weekly_values(60), strict=True)})
    bad = good.iloc[-96 * 5 :].copy()  # only five days
    bad.iloc[200] = 1e6  # and a spike
    forecast, reports = forecast_from_telemetry(
        {"good": good, "bad": bad}, days[-1] + timedelta(days=1)
    )
    assert forecast.confidence == (Confidence.OK, Confidence.LOW)
    assert reports["good"].spikes == 0
    assert reports["bad"].spikes == 1
    assert reports["bad"].readings == 96 * 5
    assert np.isfinite(forecast.mean_kw).all()
    # The same, from each asset's cleaned series laid out as market days one by one.
    cleaned = {name: clean_series(s).series for name, s in (("good", good), ("bad", bad))}
    history = LoadHistory.from_series(cleaned).from_first_reading()
    alone = forecast_day_ahead(history, days[-1] + timedelta(days=1))
    np.testing.assert_allclose(forecast.mean_kw, alone.mean_kw, rtol=1e-12)
    np.testing.assert_allclose(forecast.quantile_kw, alone.quantile_kw, rtol=1e-12)


def test_leading_empty_days_are_dropped_without_changing_the_forecast() -> None:
    rng = np.random.default_rng(7)
    recent = weekly_values(20)[None] + rng.normal(0.0, 3.0, (2, 20, 96))
    recent[1, :3] = np.nan  # the second asset started reporting later
    empty = np.full((2, 60, 96), np.nan)
    padded = LoadHistory(
        ("a0", "a1"),
        tuple(market_days(FIRST - timedelta(days=60), FIRST + timedelta(days=19))),
        np.concatenate([empty, recent], axis=1),
    )
    trimmed = padded.from_first_reading()
    assert trimmed.days[0] == FIRST and trimmed.power_kw.shape == (2, 20, 96)
    assert trimmed.from_first_reading() is trimmed  # nothing left to drop
    day = FIRST + timedelta(days=20)
    full, short = forecast_day_ahead(padded, day), forecast_day_ahead(trimmed, day)
    np.testing.assert_allclose(short.mean_kw, full.mean_kw, rtol=1e-12)
    np.testing.assert_allclose(short.quantile_kw, full.quantile_kw, rtol=1e-12)
    assert short.confidence == full.confidence


def test_a_forecast_warns_about_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warning filters are process-wide: the API forecasts in worker threads, where one
    thread's `catch_warnings` undoes another's, so the model must not raise warnings it
    then silences (an asset without history used to warn about all-NaN medians)."""
    raised: list[object] = []
    monkeypatch.setattr(warnings, "warn", lambda *args, **kwargs: raised.append(args))
    values = np.stack([weekly_values(30), np.full((30, 96), np.nan)])
    values[1, 25:] = 40.0  # reporting for five days only
    forecast = forecast_day_ahead(history_of(values), FIRST + timedelta(days=30))
    assert forecast.confidence[0] == Confidence.OK
    assert raised == []
