"""Market-day matrices and day classes: the calendar every forecast and baseline shares."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from enum import IntEnum

import numpy as np
import numpy.typing as npt
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY, NaiveDatetimeError, interval_starts_utc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MARKET_OFFSET = pd.Timedelta(hours=8)  # Asia/Shanghai: UTC+8, no DST since 1991
_INTERVAL = pd.Timedelta(minutes=15)


class DayClass(IntEnum):
    """Broad day class: what a commercial or industrial load mostly depends on."""

    WORKDAY = 0
    SATURDAY = 1
    REST = 2
    """Sunday or holiday."""


def is_rest_day(
    day: date,
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> bool:
    """True for Saturdays, Sundays and `holidays`, except `extra_workdays`.

    `extra_workdays` are weekend dates declared working days (China's 调休 make-up days).
    """
    if day in extra_workdays:
        return False
    return day.weekday() >= 5 or day in holidays


def day_types(
    days: Sequence[date],
    holidays: Collection[date] = (),
    extra_workdays: Collection[date] = (),
) -> IntArray:
    """Weekday type per day (0 = Monday .. 6 = Sunday) with calendar exceptions.

    A holiday counts as a Sunday; an extra working day (调休) counts as a Wednesday, a
    mid-week day, since which weekday it replaces is not known in general.
    """
    out = np.empty(len(days), dtype=np.int64)
    for i, day in enumerate(days):
        if day in extra_workdays:
            out[i] = 2
        elif day in holidays:
            out[i] = 6
        else:
            out[i] = day.weekday()
    return out


def day_classes(types: IntArray) -> IntArray:
    """`DayClass` per day from `day_types` output: Mon-Fri workday, Saturday, Sunday/holiday."""
    return np.where(
        types < 5, DayClass.WORKDAY, np.where(types == 5, DayClass.SATURDAY, DayClass.REST)
    ).astype(np.int64)


def market_days(first: date, last: date) -> list[date]:
    """Consecutive market days from `first` to `last`, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _utc_index(series: pd.Series) -> pd.DatetimeIndex:
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError("history must be indexed by timestamps (a pandas DatetimeIndex)")
    if index.tz is None:
        raise NaiveDatetimeError("history.index")
    return index.tz_convert("UTC")


def to_day_matrix(
    series: pd.Series,
    first: date | None = None,
    last: date | None = None,
) -> tuple[list[date], FloatArray]:
    """Arrange a 15-min power series (kW, UTC-aware index) as market days x 96 intervals.

    Returns the consecutive market days (Asia/Shanghai) from `first` to `last` (default: the
    days the series touches) and a float array (days, 96) with NaN where no value exists.
    A timestamp is placed in the interval that contains it; duplicates keep the last value
    (clean the series with `vpp.forecast.quality.clean_series` first to be told about them).
    """
    local_ns = _market_ns(series)
    if first is None or last is None:
        if len(local_ns) == 0:
            raise ValueError("an empty series needs explicit first and last days")
        first = first or pd.Timestamp(int(local_ns.min())).date()
        last = last or pd.Timestamp(int(local_ns.max())).date()
    days = market_days(first, last)
    matrix = np.full((len(days), INTERVALS_PER_DAY), np.nan)
    _place(matrix, local_ns, series, first)
    return days, matrix


def _market_ns(series: pd.Series) -> npt.NDArray[np.int64]:
    # market-time nanoseconds as integers: pandas' index arithmetic cost a fifth of an
    # asset's whole forecast
    return np.asarray(_utc_index(series).as_unit("ns").asi8 + _MARKET_OFFSET.value)


def market_day_span(series: pd.Series) -> tuple[date, date] | None:
    """The market days of the series' earliest and latest timestamps (None if it is empty)."""
    local_ns = _market_ns(series)
    if not len(local_ns):
        return None
    return pd.Timestamp(int(local_ns.min())).date(), pd.Timestamp(int(local_ns.max())).date()


def market_day_at(stamp_ns: int) -> date:
    """The market day (Asia/Shanghai) of an instant in UTC nanoseconds since the epoch."""
    return pd.Timestamp(stamp_ns + _MARKET_OFFSET.value).date()


def place_grid(matrix: FloatArray, start_ns: int, values: FloatArray, first: date) -> None:
    """Write a 15-min grid (``values[k]`` is the interval starting ``start_ns + k·15 min``,
    UTC nanoseconds since the epoch, on an interval boundary) into `matrix` (days, 96),
    whose row 0 is market day `first`; values outside the matrix's days are left out."""
    if not matrix.flags.c_contiguous:
        raise ValueError("matrix must be C-contiguous (it is written through a flat view)")
    if start_ns % _INTERVAL.value:
        raise ValueError("a grid starts on a 15-minute boundary")
    flat = matrix.reshape(-1)
    origin_ns = pd.Timestamp(first).as_unit("ns").value
    offset = (start_ns + _MARKET_OFFSET.value - origin_ns) // _INTERVAL.value
    lo, hi = max(0, -offset), min(len(values), flat.size - offset)
    if hi > lo:
        flat[offset + lo : offset + hi] = values[lo:hi]


def place_on_days(matrix: FloatArray, series: pd.Series, first: date) -> None:
    """Write a 15-min power series (kW, UTC-aware index) into `matrix` (days, 96), whose
    row 0 is market day `first`; values outside the matrix's days are left out.

    `to_day_matrix` for a caller that fills a larger array in place (a fleet's history)
    rather than stacking one new matrix per asset.
    """
    if not matrix.flags.c_contiguous:
        raise ValueError("matrix must be C-contiguous (it is written through a flat view)")
    _place(matrix, _market_ns(series), series, first)


def _place(
    matrix: FloatArray, local_ns: npt.NDArray[np.int64], series: pd.Series, first: date
) -> None:
    if not len(local_ns):
        return
    values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    origin_ns = pd.Timestamp(first).as_unit("ns").value
    slot = (local_ns - origin_ns) // _INTERVAL.value
    ok = (slot >= 0) & (slot < matrix.size)
    matrix.reshape(-1)[slot[ok]] = values[ok]


def from_day_matrix(days: Sequence[date], matrix: FloatArray) -> pd.Series:
    """Inverse of `to_day_matrix`: a UTC-indexed 15-min series (kW) of the matrix's values."""
    if not days:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=np.float64)
    start = interval_starts_utc(days[0])[0]
    index = pd.date_range(start=start, periods=len(days) * INTERVALS_PER_DAY, freq="15min")
    return pd.Series(np.asarray(matrix, dtype=np.float64).reshape(-1), index=index)


def day_series(day: date, values: FloatArray, name: str | None = None) -> pd.Series:
    """The 96 values (kW) of market day `day` as a series on its UTC interval starts."""
    return pd.Series(
        np.asarray(values, dtype=np.float64), index=interval_starts_utc(day), name=name
    )


__all__ = [
    "DayClass",
    "FloatArray",
    "IntArray",
    "day_classes",
    "day_series",
    "day_types",
    "from_day_matrix",
    "is_rest_day",
    "market_day_at",
    "market_day_span",
    "market_days",
    "place_grid",
    "place_on_days",
    "to_day_matrix",
]
