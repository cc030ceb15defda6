"""Market time: UTC instants, Shanghai market days and 15-minute intervals."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.domain.errors import InvalidParameterError, NaiveDatetimeError
from vpp.domain.time import (
    INTERVAL,
    INTERVALS_PER_DAY,
    MARKET_TZ,
    MarketInterval,
    day_bounds_utc,
    day_intervals,
    ensure_aware,
    floor_to_interval,
    interval_of,
    interval_starts_utc,
    market_day_of,
)

PROPERTY = settings(database=None, deadline=None)
aware_instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 12, 31),
    timezones=st.timezones(),
    allow_imaginary=False,
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
intervals = st.builds(MarketInterval, days, st.integers(0, INTERVALS_PER_DAY - 1))


@PROPERTY
@given(aware_instants)
def test_every_instant_lies_in_exactly_one_interval(instant: datetime) -> None:
    interval = interval_of(instant)
    assert interval.start_utc <= instant < interval.end_utc
    neighbourhood = [
        candidate
        for offset in (-1, 0, 1)
        for candidate in day_intervals(interval.day + timedelta(days=offset))
    ]
    assert sum(c.start_utc <= instant < c.end_utc for c in neighbourhood) == 1
    assert market_day_of(instant) == interval.day
    assert floor_to_interval(instant) == interval.start_utc
    local = instant.astimezone(MARKET_TZ)  # the zoneinfo view agrees with the fixed offset
    assert (local.date(), (local.hour * 60 + local.minute) // 15) == (interval.day, interval.index)


@PROPERTY
@given(intervals)
def test_interval_round_trips_through_its_start(interval: MarketInterval) -> None:
    assert interval_of(interval.start_utc) == interval
    assert interval_of(interval.end_utc - timedelta(microseconds=1)) == interval
    assert interval.start_local == interval.start_utc
    assert interval.start_local.tzinfo == MARKET_TZ
    assert MarketInterval.parse(str(interval)) == interval


@PROPERTY
@given(days)
def test_every_day_has_96_contiguous_intervals(day: date) -> None:
    day_list = day_intervals(day)
    assert len(day_list) == INTERVALS_PER_DAY
    assert [iv.index for iv in day_list] == list(range(INTERVALS_PER_DAY))
    starts = [iv.start_utc for iv in day_list]
    assert starts[0] == datetime.combine(day - timedelta(days=1), datetime.min.time(), UTC) + (
        timedelta(hours=16)
    )
    assert all(b - a == INTERVAL for a, b in itertools.pairwise(starts))
    assert all(a.end_utc == b.start_utc for a, b in itertools.pairwise(day_list))
    assert day_bounds_utc(day) == (starts[0], day_list[-1].end_utc)
    index = interval_starts_utc(day)
    assert list(index) == starts
    assert str(index.tz) == "UTC"
    assert index.freq == pd.Timedelta(minutes=15)


@PROPERTY
@given(intervals)
def test_next_and_previous_are_inverse(interval: MarketInterval) -> None:
    assert interval.next().previous() == interval
    assert interval.previous().next() == interval
    assert interval.next().start_utc == interval.end_utc
    assert interval.previous() < interval < interval.next()


@PROPERTY
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31)))
def test_naive_datetimes_are_rejected(naive: datetime) -> None:
    with pytest.raises(NaiveDatetimeError, match=r"^instant "):
        interval_of(naive)
    with pytest.raises(NaiveDatetimeError, match=r"^recorded_at "):
        ensure_aware(naive, "recorded_at")


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 11, 24, 16, 0, tzinfo=UTC), "2026-11-25#0"),
        (datetime(2026, 11, 25, 3, 45, tzinfo=UTC), "2026-11-25#47"),
        (datetime(2026, 11, 25, 3, 44, 59, 999999, tzinfo=UTC), "2026-11-25#46"),
        (datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC), "2026-11-25#95"),
        (datetime(2026, 11, 25, 16, 0, tzinfo=UTC), "2026-11-26#0"),
        (datetime(2026, 11, 25, 9, 15, tzinfo=timezone(timedelta(hours=8))), "2026-11-25#37"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=MARKET_TZ), "2026-12-31#95"),
    ],
)
def test_hand_computed_intervals(instant: datetime, expected: str) -> None:
    assert str(interval_of(instant)) == expected


def test_hand_computed_bounds_and_crossings() -> None:
    assert day_bounds_utc(date(2026, 11, 25)) == (
        datetime(2026, 11, 24, 16, tzinfo=UTC),
        datetime(2026, 11, 25, 16, tzinfo=UTC),
    )
    assert MarketInterval(date(2026, 12, 31), 95).next() == MarketInterval(date(2027, 1, 1), 0)
    assert MarketInterval(date(2028, 3, 1), 0).previous() == MarketInterval(date(2028, 2, 29), 95)
    assert MarketInterval(date(2026, 11, 25), 37).start_utc == datetime(
        2026, 11, 25, 1, 15, tzinfo=UTC
    )
    assert ensure_aware(datetime(2026, 1, 1, 8, tzinfo=MARKET_TZ)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("index", [-1, 96, 1000])
def test_interval_index_out_of_range(index: int) -> None:
    with pytest.raises(InvalidParameterError, match="interval_range") as info:
        MarketInterval(date(2026, 11, 25), index)
    assert info.value.field == "index"


@pytest.mark.parametrize("text", ["2026-11-25", "2026-11-25#x", "2026-13-01#3", "#4"])
def test_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"^interval "):
        MarketInterval.parse(text)
