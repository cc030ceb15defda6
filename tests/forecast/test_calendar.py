"""Market-day matrices (vpp.forecast.calendar) and the fleet history built from them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.forecast.conftest import day_series
from vpp.domain import NaiveDatetimeError
from vpp.forecast.calendar import (
    market_day_at,
    market_day_span,
    place_grid,
    place_on_days,
    to_day_matrix,
)
from vpp.forecast.model import LoadHistory

NOV_1 = date(2026, 11, 1)


def readings(*stamps_and_kw: tuple[str, float]) -> pd.Series:
    stamps = pd.DatetimeIndex([s for s, _ in stamps_and_kw]).tz_convert("UTC")
    return pd.Series([kw for _, kw in stamps_and_kw], index=stamps)


def test_readings_land_in_their_beijing_market_day_and_interval() -> None:
    # 16:00 UTC is 00:00 Beijing of the next day; 15:59 UTC is 23:59, the last interval
    series = readings(("2026-11-01T16:00Z", 1.0), ("2026-11-02T15:59Z", 2.0))
    days, matrix = to_day_matrix(series)
    assert days == [date(2026, 11, 2)]
    assert matrix[0, 0] == 1.0
    assert matrix[0, 95] == 2.0
    assert np.isnan(matrix[0, 1:95]).all()
    assert market_day_span(series) == (date(2026, 11, 2), date(2026, 11, 2))


def test_place_on_days_fills_in_place_and_leaves_out_other_days() -> None:
    series = day_series({NOV_1: 1.0, date(2026, 11, 2): 2.0, date(2026, 11, 4): 4.0})
    fleet = np.full((2, 3, 96), np.nan)
    place_on_days(fleet[1], series, date(2026, 11, 2))  # the 2nd and 3rd of November only
    assert np.isnan(fleet[0]).all()
    assert (fleet[1, 0] == 2.0).all()
    assert np.isnan(fleet[1, 1]).all()  # no readings on the 3rd
    assert (fleet[1, 2] == 4.0).all()
    _, matrix = to_day_matrix(series, date(2026, 11, 2), date(2026, 11, 4))
    np.testing.assert_array_equal(matrix, fleet[1])


def test_place_on_days_refuses_an_array_it_could_not_write_through() -> None:
    strided = np.full((3, 96, 2), np.nan)[..., 0]
    with pytest.raises(ValueError, match="contiguous"):
        place_on_days(strided, day_series({NOV_1: 1.0}), NOV_1)


def test_naive_and_empty_series() -> None:
    naive = pd.Series([1.0], index=pd.DatetimeIndex(["2026-11-01 00:00"]))
    with pytest.raises(NaiveDatetimeError):
        market_day_span(naive)
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    assert market_day_span(empty) is None
    with pytest.raises(ValueError, match="explicit first and last"):
        LoadHistory.from_series({"a": empty})


def test_history_spans_the_union_of_its_series() -> None:
    early = day_series({NOV_1: 1.0})
    late = day_series({date(2026, 11, 3): 3.0})
    history = LoadHistory.from_series({"early": early, "late": late})
    assert history.days == (NOV_1, date(2026, 11, 2), date(2026, 11, 3))
    assert (history.power_kw[0, 0] == 1.0).all() and np.isnan(history.power_kw[0, 1:]).all()
    assert (history.power_kw[1, 2] == 3.0).all() and np.isnan(history.power_kw[1, :2]).all()


def test_a_grid_lands_where_its_series_would() -> None:
    # Three days of readings from 2 November; the matrix holds 3 and 4 November only.
    series = day_series({date(2026, 11, 2) + timedelta(days=i): float(i + 1) for i in range(3)})
    start_ns = int(series.index[0].value)
    by_grid = np.full((2, 96), np.nan)
    place_grid(by_grid, start_ns, series.to_numpy(), date(2026, 11, 3))
    by_series = np.full((2, 96), np.nan)
    place_on_days(by_series, series, date(2026, 11, 3))
    np.testing.assert_array_equal(by_grid, by_series)
    assert (by_grid[0] == 2.0).all() and (by_grid[1] == 3.0).all()
    # A grid that starts before and ends after the matrix is cut on both sides.
    wide = np.full((1, 96), np.nan)
    place_grid(wide, start_ns, series.to_numpy(), date(2026, 11, 3))
    assert (wide[0] == 2.0).all()
    assert market_day_at(start_ns) == date(2026, 11, 2)
    with pytest.raises(ValueError, match="15-minute boundary"):
        place_grid(wide, start_ns + 60_000_000_000, series.to_numpy(), date(2026, 11, 3))
