"""Cleaning rules for bad telemetry, each reported (vpp.forecast.quality)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.forecast.conftest import day_series
from vpp.domain import NaiveDatetimeError
from vpp.forecast.quality import (
    CleaningRules,
    Confidence,
    _isolated_jumps,
    assess_history,
    clean_series,
)


def office_load(days: int = 7) -> pd.Series:
    """An office: 20 kW at night, 100 kW from 08:00 to 18:00, small ripple."""
    shape = np.full(96, 20.0)
    shape[32:72] = 100.0
    shape += np.sin(np.arange(96)) * 2
    return day_series({date(2026, 11, 1 + i): shape for i in range(days)})


def test_clean_series_leaves_good_data_alone() -> None:
    raw = office_load()
    cleaned = clean_series(raw)
    pd.testing.assert_series_equal(cleaned.series, raw, check_freq=False, check_names=False)
    assert not cleaned.report.changed
    assert cleaned.report.valid_fraction == 1.0


def test_short_gaps_are_interpolated_and_long_ones_stay_missing() -> None:
    raw = office_load()
    short = raw.index[100:103]  # 3 intervals
    long = raw.index[300:310]  # 10 intervals
    cleaned = clean_series(raw.drop(short.append(long)))
    report = cleaned.report
    assert report.missing == 13
    assert report.filled == 3
    assert report.missing_after == 10
    assert cleaned.series[short].notna().all()
    assert cleaned.filled[short].all()
    assert cleaned.series[long].isna().all()
    # linear between the neighbours
    left, right = raw.iloc[99], raw.iloc[103]
    np.testing.assert_allclose(cleaned.series[short], left + (right - left) * np.arange(1, 4) / 4)


def test_spikes_are_removed_and_counted() -> None:
    raw = office_load()
    spiky = raw.copy()
    spiky.iloc[200] = 5000.0  # a unit error (W read as kW)
    spiky.iloc[250] = -100.0  # a sign flip
    cleaned = clean_series(spiky)
    assert cleaned.report.spikes == 2
    # the removed readings were filled from their neighbours
    assert cleaned.series.iloc[200] == pytest.approx((raw.iloc[199] + raw.iloc[201]) / 2)
    assert cleaned.series.iloc[250] > 0
    assert any("spike" in note for note in cleaned.report.notes)


def test_business_hour_ramps_are_not_spikes() -> None:
    assert clean_series(office_load()).report.spikes == 0


def test_out_of_order_and_duplicate_readings() -> None:
    raw = office_load(days=2)
    shuffled = pd.concat([raw.iloc[100:], raw.iloc[:100]])
    duplicate = pd.Series([999.0], index=[raw.index[10]])
    messy = pd.concat([shuffled, duplicate])  # the duplicate arrives last and wins
    cleaned = clean_series(messy, CleaningRules(spike_jump=1e9, range_margin=1e9))
    # the 100 early readings sent last, and the late duplicate, arrive after later stamps
    assert cleaned.report.out_of_order == 101
    assert cleaned.report.duplicates == 1
    assert cleaned.series.index.is_monotonic_increasing
    assert cleaned.series.iloc[10] == 999.0
    assert len(cleaned.series) == len(raw)


def test_off_grid_readings_are_averaged_into_their_interval() -> None:
    start = pd.Timestamp("2026-11-01T00:00Z")
    stamps = [start, start + pd.Timedelta(minutes=5), start + pd.Timedelta(minutes=10)]
    cleaned = clean_series(pd.Series([10.0, 20.0, 30.0], index=pd.DatetimeIndex(stamps)))
    assert cleaned.report.off_grid == 2
    assert cleaned.series.iloc[0] == pytest.approx(20.0)


def test_as_many_readings_as_intervals_is_not_yet_a_grid() -> None:
    # Three readings over three intervals, two of them in the first: 00:00 holds their
    # mean, 00:15 is missing (then filled), 00:30 holds the third.
    start = pd.Timestamp("2026-11-01T00:00Z")
    stamps = [start + pd.Timedelta(minutes=m) for m in (5, 10, 30)]
    cleaned = clean_series(pd.Series([10.0, 20.0, 40.0], index=pd.DatetimeIndex(stamps)))
    assert list(cleaned.series.index) == [start + pd.Timedelta(minutes=m) for m in (0, 15, 30)]
    np.testing.assert_allclose(cleaned.series.to_numpy(), [15.0, 27.5, 40.0])
    assert cleaned.report.missing == 1 and cleaned.report.filled == 1


def test_non_finite_values_are_dropped() -> None:
    raw = office_load(days=1)
    raw.iloc[5] = np.inf
    raw.iloc[6] = np.nan
    report = clean_series(raw).report
    assert report.non_finite == 2
    assert report.filled == 2


def test_a_meter_stuck_at_zero_is_removed() -> None:
    raw = office_load()
    stuck = raw.copy()
    stuck.iloc[96 * 3 + 40 : 96 * 3 + 60] = 0.0  # 5 h of zeros in office hours
    cleaned = clean_series(stuck)
    assert cleaned.report.stuck_zero == 20
    assert cleaned.series.iloc[96 * 3 + 40 : 96 * 3 + 60].isna().all()


def test_pv_zeros_at_night_are_not_a_stuck_meter() -> None:
    shape = np.zeros(96)
    shape[28:76] = np.sin(np.linspace(0, np.pi, 48)) * 500
    pv = day_series({date(2026, 6, 1 + i): shape for i in range(5)})
    assert clean_series(pv).report.stuck_zero == 0


def test_flatline_rule_is_off_by_default_and_works_when_on() -> None:
    raw = office_load()
    frozen = raw.copy()
    frozen.iloc[100:130] = 55.5
    assert clean_series(frozen).report.flatline == 0
    assert clean_series(frozen, CleaningRules(flatline_intervals=16)).report.flatline == 30


def test_naive_timestamps_are_rejected() -> None:
    naive = pd.Series([1.0], index=pd.DatetimeIndex([pd.Timestamp("2026-11-01T00:00")]))
    with pytest.raises(NaiveDatetimeError):
        clean_series(naive)


def test_empty_input_reports_no_readings() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    report = clean_series(empty).report
    assert report.readings == 0
    assert report.valid_fraction == 0.0


def test_assess_history_flags_thin_history() -> None:
    full = np.ones((20, 96))
    assert assess_history(full).confidence == Confidence.OK
    thin = full.copy()
    thin[:15, 5] = np.nan
    verdict = assess_history(thin)
    assert verdict.confidence == Confidence.LOW
    assert verdict.complete_days == 5
    assert "only 5" in verdict.reason
    assert assess_history(np.full((3, 96), np.nan)).confidence == Confidence.NONE


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-50.0, 50.0), st.just(float("nan")), st.floats(-5e3, 5e3)),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.01, 100.0),
)
def test_isolated_jumps_match_the_neighbour_median_rule(values: list[float], limit: float) -> None:
    """The min/max shortcut flags exactly the points whose distance from the median of
    their ±4 neighbours (NaN-aware, the point excluded) exceeds the limit."""
    series = np.asarray(values)
    expected = []
    for i, x in enumerate(series):
        around = np.delete(series[max(0, i - 4) : i + 5], min(i, 4))
        around = around[np.isfinite(around)]
        expected.append(bool(np.isfinite(x) and around.size and abs(x - np.median(around)) > limit))
    np.testing.assert_array_equal(_isolated_jumps(series, limit), expected)
