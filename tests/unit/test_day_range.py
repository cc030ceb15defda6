"""Market days outside the represented range are bad input, not a crash (found by the
hostile-input fuzzing: day=2263-01-01 overflowed pandas' nanosecond timestamps, day=0001-01-01
datetime's minimum, both as a 500)."""

from __future__ import annotations

from datetime import date

import pytest

from vpp.domain.errors import InvalidParameterError
from vpp.domain.time import (
    FIRST_DAY,
    LAST_DAY,
    MarketInterval,
    day_bounds_utc,
    interval_starts_utc,
)


@pytest.mark.parametrize(
    "day", [date(1, 1, 1), date(1969, 12, 31), date(2200, 1, 1), date(2263, 1, 1)]
)
def test_days_outside_the_range_are_refused_naming_the_rule(day: date) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        interval_starts_utc(day)
    assert (raised.value.field, raised.value.rule) == ("day", "day_range")
    with pytest.raises(InvalidParameterError):
        MarketInterval(day, 0)


def test_the_first_and_last_days_have_96_intervals() -> None:
    assert len(interval_starts_utc(FIRST_DAY)) == 96
    assert len(interval_starts_utc(LAST_DAY)) == 96
    start, end = day_bounds_utc(LAST_DAY)
    assert start.isoformat() == "2199-12-30T16:00:00+00:00"
    assert end.isoformat() == "2199-12-31T16:00:00+00:00"
