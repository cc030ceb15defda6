"""Settlement baselines on hand-computed cases (DESIGN §3; market-rules-china.md §b5)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.forecast.conftest import day_series
from vpp.forecast.baselines import (
    AdjustmentKind,
    MorningAdjustment,
    apply_adjustment,
    high_x_of_y_baseline,
    similar_days_baseline,
)

MONDAY = date(2026, 12, 7)


def history(days_back: int = 30, target_value: float | None = None) -> pd.Series:
    """Day d's load is a constant equal to its day of month (Nov 7 .. Dec 6 -> 7 .. 30, 1 .. 6)."""
    values: dict[date, float | np.ndarray] = {}
    for i in range(1, days_back + 1):
        day = MONDAY - timedelta(days=i)
        values[day] = float(day.day)
    if target_value is not None:
        values[MONDAY] = target_value
    return day_series(values)


def test_jiangsu_default_is_the_last_five_workdays() -> None:
    base = similar_days_baseline(history(), MONDAY)
    # Fri 4, Thu 3, Wed 2, Tue 1 Dec, Mon 30 Nov.
    expected = [date(2026, 12, d) for d in (4, 3, 2, 1)] + [date(2026, 11, 30)]
    assert base.days_used == tuple(expected)
    assert base.complete
    np.testing.assert_allclose(base.power_kw, (4 + 3 + 2 + 1 + 30) / 5)
    assert base.power_kw.shape == (96,)


def test_event_days_are_excluded_and_replaced_by_earlier_days() -> None:
    base = similar_days_baseline(history(), MONDAY, event_days={date(2026, 12, 2)})
    assert date(2026, 12, 2) not in base.days_used
    np.testing.assert_allclose(base.power_kw, (4 + 3 + 1 + 30 + 27) / 5)


def test_rest_day_target_uses_rest_days_only() -> None:
    sunday = date(2026, 12, 6)
    base = similar_days_baseline(history(), sunday)
    # Sat 5, Sun 29, Sat 28, Sun 22, Sat 21 — strictly before the Sunday.
    assert [d.day for d in base.days_used] == [5, 29, 28, 22, 21]
    np.testing.assert_allclose(base.power_kw, (5 + 29 + 28 + 22 + 21) / 5)


def test_holidays_are_rest_days_and_extra_workdays_are_workdays() -> None:
    holiday, make_up = date(2026, 12, 3), date(2026, 12, 5)
    base = similar_days_baseline(history(), MONDAY, holidays={holiday}, extra_workdays={make_up})
    assert [d.day for d in base.days_used] == [5, 4, 2, 1, 30]
    rest = similar_days_baseline(history(), date(2026, 12, 6), holidays={holiday})
    assert [d.day for d in rest.days_used] == [5, 3, 29, 28, 22]


def test_a_day_with_a_missing_interval_is_skipped() -> None:
    series = history()
    gap = pd.Timestamp("2026-12-01T03:00Z")  # 11:00 Beijing on 1 December
    series = series.drop(gap)
    base = similar_days_baseline(series, MONDAY)
    assert [d.day for d in base.days_used] == [4, 3, 2, 30, 27]
    nan_series = history()
    nan_series[np.asarray(nan_series.index == gap)] = np.nan
    assert similar_days_baseline(nan_series, MONDAY).days_used == base.days_used


def test_too_few_days_averages_what_exists_and_says_so() -> None:
    base = similar_days_baseline(history(days_back=4), MONDAY)
    assert [d.day for d in base.days_used] == [4, 3]
    assert not base.complete
    np.testing.assert_allclose(base.power_kw, 3.5)
    empty = similar_days_baseline(history(days_back=2), MONDAY)
    assert empty.days_used == ()
    assert np.isnan(empty.power_kw).all()


def test_n_days_and_lookback_are_parameters() -> None:
    assert similar_days_baseline(history(), MONDAY, n_days=2).power_kw[0] == pytest.approx(3.5)
    short = similar_days_baseline(history(), MONDAY, lookback_days=3)
    assert [d.day for d in short.days_used] == [4]


def test_high_x_of_y_takes_the_highest_days() -> None:
    # Workdays before Monday 7 Dec: 4, 3, 2, 1, 30, 27 ... ; the 2 highest of the 4 most
    # recent (4, 3, 2, 1) are 4 and 3.
    base = high_x_of_y_baseline(history(), MONDAY, x=2, y=4)
    assert [d.day for d in base.days_used] == [4, 3]
    np.testing.assert_allclose(base.power_kw, 3.5)
    # 4 of 5 over (4, 3, 2, 1, 30): drops the lowest, 1.
    four = high_x_of_y_baseline(history(), MONDAY, x=4, y=5)
    np.testing.assert_allclose(four.power_kw, (30 + 4 + 3 + 2) / 4)
    assert four.rule == "high-4-of-5"


def test_beijing_rule_starts_at_d_minus_2_and_ranks_on_a_window() -> None:
    series = history()
    # Give 4 Dec a morning peak only: it wins when ranking on the morning window.
    values = np.full(96, 4.0)
    values[32:40] = 100.0
    series.loc[series.index.isin(pd.date_range("2026-12-03T16:00Z", periods=96, freq="15min"))] = (
        values
    )
    beijing = high_x_of_y_baseline(series, date(2026, 12, 5), x=1, y=3, first_lag_days=2)
    # Target Saturday 5 Dec is a rest day -> rest days from 3 Dec back: 29, 28, 22.
    assert [d.day for d in beijing.days_used] == [29]
    weekday = high_x_of_y_baseline(
        series, date(2026, 12, 8), x=1, y=3, first_lag_days=2, rank_intervals=(32, 40)
    )
    # Tuesday 8 Dec from D-2 = 6 Dec back: workdays 4, 3, 2; 4 Dec wins on the window.
    assert [d.day for d in weekday.days_used] == [4]


def test_morning_adjustment_is_capped_at_twenty_percent() -> None:
    adj = MorningAdjustment(start_interval=40, end_interval=52)
    high = high_x_of_y_baseline(history(target_value=100.0), MONDAY, x=2, y=4, adjustment=adj)
    assert high.adjustment_factor == pytest.approx(1.2)
    np.testing.assert_allclose(high.power_kw, 3.5 * 1.2)
    low = high_x_of_y_baseline(history(target_value=3.15), MONDAY, x=2, y=4, adjustment=adj)
    assert low.adjustment_factor == pytest.approx(0.9)
    np.testing.assert_allclose(low.power_kw, 3.15)
    unmeasured = high_x_of_y_baseline(history(), MONDAY, x=2, y=4, adjustment=adj)
    assert unmeasured.adjustment_factor is None


def test_additive_adjustment_is_capped_in_kw() -> None:
    base = np.full(96, 10.0)
    actual = np.full(96, np.nan)
    actual[40:52] = 11.0
    add = MorningAdjustment(kind=AdjustmentKind.ADDITIVE)
    adjusted, offset = apply_adjustment(base, actual, add)
    assert offset == pytest.approx(1.0)
    np.testing.assert_allclose(adjusted, 11.0)
    actual[40:52] = 20.0
    _, capped = apply_adjustment(base, actual, add)
    assert capped == pytest.approx(2.0)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="x <= y"):
        high_x_of_y_baseline(history(), MONDAY, x=5, y=4)
    with pytest.raises(ValueError, match="n_days"):
        similar_days_baseline(history(), MONDAY, n_days=0)
    with pytest.raises(ValueError, match="window"):
        MorningAdjustment(start_interval=50, end_interval=40)


def test_baseline_as_series_is_on_the_days_utc_intervals() -> None:
    series = similar_days_baseline(history(), MONDAY).to_series()
    assert series.index[0] == pd.Timestamp("2026-12-06T16:00Z")
    assert len(series) == 96
