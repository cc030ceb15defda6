"""PV geometry and forecast sanity at the park (39° N, 100.5° E, 1,500 m)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from vpp.domain import PvParams, interval_starts_utc
from vpp.forecast.outlook import pv_outlook
from vpp.forecast.pv import (
    PARK_SITE,
    clear_sky,
    clear_sky_power,
    cloudiness,
    forecast_pv,
    solar_position,
)
from vpp.forecast.quality import Confidence

PLANT = PvParams(peak_kw=1000.0, inverter_kw=900.0)


@pytest.mark.parametrize("day", [date(2026, 3, 20), date(2026, 6, 21), date(2026, 12, 21)])
def test_zero_at_night_and_peak_near_solar_noon(day: date) -> None:
    starts = interval_starts_utc(day)
    power = clear_sky_power(starts, PLANT).to_numpy()
    local = starts.tz_convert("Asia/Shanghai")
    night = (local.hour < 5) | (local.hour >= 22)
    assert np.all(power[night] == 0.0)
    # Solar noon at 100.5° E is 12:00 + (120 - 100.5)·4 min = 13:18 Beijing time, moved by
    # the equation of time (at most ±17 min). Interval starts are 7.5 min before midpoints.
    peak = local[int(np.argmax(power))] + pd.Timedelta(minutes=7.5)
    minutes = peak.hour * 60 + peak.minute
    assert abs(minutes - (13 * 60 + 18)) <= 25


def test_solar_position_at_the_june_solstice_noon() -> None:
    noon = pd.DatetimeIndex([pd.Timestamp("2026-06-21T05:20Z")])
    pos = solar_position(noon)
    # zenith = latitude - declination = 39 - 23.44
    assert pos["zenith_deg"].iloc[0] == pytest.approx(39.0 - 23.44, abs=0.5)
    assert pos["azimuth_deg"].iloc[0] == pytest.approx(180.0, abs=5.0)


def test_clear_sky_magnitudes_at_altitude() -> None:
    times = pd.DatetimeIndex([pd.Timestamp("2026-06-21T05:20Z"), pd.Timestamp("2026-06-21T20:00Z")])
    sky = clear_sky(times, PARK_SITE)
    assert 950 < sky["ghi"].iloc[0] < 1150  # high, dry site near noon in June
    assert sky["dni"].iloc[0] > 850
    assert (sky.iloc[1] == 0).all()  # 04:00 Beijing: night


def test_inverter_limits_output() -> None:
    big = PvParams(peak_kw=1000.0, inverter_kw=500.0)
    power = clear_sky_power(interval_starts_utc(date(2026, 6, 21)), big)
    assert power.max() == pytest.approx(500.0)


def test_cloudiness_is_learned_from_recent_output() -> None:
    day = date(2026, 7, 10)
    parts = []
    for i in range(1, 11):
        d = day - timedelta(days=i)
        starts = interval_starts_utc(d)
        parts.append(clear_sky_power(starts, PLANT) * 0.6)
    measured = pd.concat(parts)
    cloud = cloudiness(measured, PLANT, day)
    assert cloud.factor == pytest.approx(0.6, abs=1e-6)
    assert cloud.confidence == Confidence.OK
    assert cloud.days_used == 10
    forecast = forecast_pv(day, PLANT, measured)
    np.testing.assert_allclose(forecast.generation_kw, forecast.clear_sky_kw * 0.6, rtol=1e-9)
    assert np.all(forecast.net_load_kw <= 0.0)


def test_recent_days_weigh_more() -> None:
    day = date(2026, 7, 10)
    parts = []
    for i in range(1, 11):
        d = day - timedelta(days=i)
        parts.append(clear_sky_power(interval_starts_utc(d), PLANT) * (0.9 if i <= 2 else 0.3))
    cloud = cloudiness(pd.concat(parts), PLANT, day)
    assert cloud.factor > 0.6
    assert cloud.quantiles[0.1] < cloud.quantiles[0.9]


def test_no_or_little_history_is_flagged() -> None:
    day = date(2026, 7, 10)
    assert forecast_pv(day, PLANT).cloudiness.confidence == Confidence.NONE
    one_day = clear_sky_power(interval_starts_utc(day - timedelta(days=1)), PLANT)
    low = cloudiness(one_day, PLANT, day)
    assert low.confidence == Confidence.LOW
    assert low.reason == (
        "1 day(s) with complete daylight readings in the last 10 (< 3);"
        " clear-sky index 1.00 assumed with a wide band"
    )
    outlook = pv_outlook(day, PLANT, -one_day)  # a PV meter's net load: generation < 0
    assert outlook.confidence == Confidence.LOW
    assert outlook.notes == (f"confidence low: {low.reason}",)


def test_forecast_uses_the_same_clear_sky_for_every_plant_and_day() -> None:
    """The forecast's cached sky gives `clear_sky_power`'s numbers, plant by plant."""
    day = date(2026, 5, 3)
    tilted = PvParams(peak_kw=400.0, tilt_deg=15.0, azimuth_deg=120.0)
    for plant in (PLANT, tilted):
        expected = clear_sky_power(interval_starts_utc(day), plant).to_numpy()
        assert np.array_equal(forecast_pv(day, plant).clear_sky_kw, expected)
    assert not np.array_equal(
        forecast_pv(day, PLANT).clear_sky_kw, forecast_pv(day, tilted).clear_sky_kw
    )
