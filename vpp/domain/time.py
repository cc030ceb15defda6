"""Market time: UTC instants, Asia/Shanghai market days and their 96 fifteen-minute intervals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from vpp.domain.errors import InvalidParameterError, NaiveDatetimeError

MARKET_TZ = ZoneInfo("Asia/Shanghai")
INTERVAL = timedelta(minutes=15)
INTERVALS_PER_DAY = 96
INTERVAL_HOURS = 0.25

# Shanghai has kept UTC+8 without DST since 1991, so arithmetic uses the fixed offset: it
# agrees with MARKET_TZ for every date the market exists and keeps every day at 96 intervals.
_MARKET_OFFSET = timedelta(hours=8)
_INTERVAL_MINUTES = 15

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
"""The market days the service represents. Beyond them instants leave what datetime and
pandas' nanosecond timestamps hold (to 2262-04-11) once a lookback or horizon is added;
a day outside is refused as bad input (rule "day_range")."""


def ensure_aware(dt: datetime, field: str = "timestamp") -> datetime:
    """Return the instant `dt` in UTC; raise NaiveDatetimeError naming `field` if it is naive."""
    if not isinstance(dt, datetime):
        raise InvalidParameterError(field, "type", f"must be a datetime, got {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise NaiveDatetimeError(field)
    return dt.astimezone(UTC)


def _check_day(day: date, field: str = "day") -> date:
    # datetime is a subclass of date but compares unequal to it; insist on a plain date.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise InvalidParameterError(field, "type", f"must be a date, got {day!r}")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidParameterError(
            field, "day_range", f"must be between {FIRST_DAY} and {LAST_DAY}, got {day}"
        )
    return day


@dataclass(frozen=True, order=True, slots=True)
class MarketInterval:
    """Interval `index` (0..95) of Shanghai market day `day`; it starts at 00:00 + 15·index local.

    Ordering is chronological. `str()` gives "2026-11-25#37"; `MarketInterval.parse` reads it.
    """

    day: date
    index: int

    def __post_init__(self) -> None:
        _check_day(self.day)
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise InvalidParameterError("index", "type", f"must be an int, got {self.index!r}")
        if not 0 <= self.index < INTERVALS_PER_DAY:
            raise InvalidParameterError(
                "index", "interval_range", f"must be in [0, 95], got {self.index}"
            )

    @classmethod
    def parse(cls, text: str) -> MarketInterval:
        """Read "YYYY-MM-DD#k" as written by `str()`."""
        day_text, sep, index_text = text.partition("#")
        try:
            if not sep:
                raise ValueError(text)
            return cls(date.fromisoformat(day_text), int(index_text))
        except InvalidParameterError:
            raise
        except ValueError:
            raise InvalidParameterError(
                "interval", "format", f"must look like 2026-11-25#37, got {text!r}"
            ) from None

    @property
    def start_utc(self) -> datetime:
        """Start instant in UTC."""
        return day_bounds_utc(self.day)[0] + self.index * INTERVAL

    @property
    def end_utc(self) -> datetime:
        """End instant in UTC (exclusive; the next interval's start)."""
        return self.start_utc + INTERVAL

    @property
    def start_local(self) -> datetime:
        """Start instant in market time (Asia/Shanghai)."""
        return self.start_utc.astimezone(MARKET_TZ)

    def next(self) -> MarketInterval:
        """The following interval; #95 is followed by #0 of the next day."""
        if self.index + 1 < INTERVALS_PER_DAY:
            return MarketInterval(self.day, self.index + 1)
        return MarketInterval(self.day + timedelta(days=1), 0)

    def previous(self) -> MarketInterval:
        """The preceding interval; #0 is preceded by #95 of the previous day."""
        if self.index > 0:
            return MarketInterval(self.day, self.index - 1)
        return MarketInterval(self.day - timedelta(days=1), INTERVALS_PER_DAY - 1)

    def __str__(self) -> str:
        return f"{self.day.isoformat()}#{self.index}"


def interval_of(instant: datetime) -> MarketInterval:
    """The market interval containing the aware `instant` (its start <= instant < its end)."""
    local = ensure_aware(instant, "instant") + _MARKET_OFFSET
    minutes = local.hour * 60 + local.minute
    return MarketInterval(local.date(), minutes // _INTERVAL_MINUTES)


def market_day_of(instant: datetime) -> date:
    """The Shanghai market day containing the aware `instant`."""
    return (ensure_aware(instant, "instant") + _MARKET_OFFSET).date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """Half-open UTC bounds [start, end) of market day `day` (16:00Z the day before, 24 h)."""
    start = datetime.combine(_check_day(day), time(), tzinfo=UTC) - _MARKET_OFFSET
    return start, start + INTERVALS_PER_DAY * INTERVAL


def day_intervals(day: date) -> list[MarketInterval]:
    """The 96 intervals of market day `day`, in order."""
    _check_day(day)
    return [MarketInterval(day, k) for k in range(INTERVALS_PER_DAY)]


def interval_starts_utc(day: date) -> pd.DatetimeIndex:
    """The 96 interval starts of market day `day` as a UTC DatetimeIndex with freq 15min."""
    start, _ = day_bounds_utc(day)
    return pd.date_range(start=pd.Timestamp(start), periods=INTERVALS_PER_DAY, freq="15min")


def floor_to_interval(instant: datetime) -> datetime:
    """Start (UTC) of the interval containing the aware `instant`."""
    return interval_of(instant).start_utc
