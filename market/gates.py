"""Gate-closure instants (UTC) of day-ahead, per-interval and monthly market products."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from vpp.domain.time import MARKET_TZ, day_bounds_utc

MINUTES_PER_DAY = 1440


def day_gate(day: date, day_offset: int, local_time: time) -> datetime:
    """Gate for market day ``day``: ``local_time`` Beijing time on ``day + day_offset`` (UTC).

    ``day_offset = -1`` with 10:00 gives "D-1 10:00", i.e. 02:00Z on the day before.
    """
    gate_day = day + timedelta(days=day_offset)
    return datetime.combine(gate_day, local_time.replace(tzinfo=None), tzinfo=MARKET_TZ).astimezone(
        UTC
    )


def interval_gate(day: date, interval: int, intervals_per_day: int, lead_minutes: int) -> datetime:
    """Gate of one interval of a real-time product: its start minus ``lead_minutes`` (UTC).

    Interval ``k`` of a day of ``intervals_per_day`` intervals starts at
    00:00 + k × (1440 / intervals_per_day) minutes, Beijing time.
    """
    if not 0 <= interval < intervals_per_day:
        raise ValueError(f"interval must be in [0, {intervals_per_day - 1}], got {interval}")
    start, _ = day_bounds_utc(day)
    minutes = interval * (MINUTES_PER_DAY // intervals_per_day)
    return start + timedelta(minutes=minutes - lead_minutes)


def month_start(day: date) -> date:
    """The first day of the month containing ``day``."""
    return day.replace(day=1)


def days_in_month(day: date) -> int:
    """How many days the month containing ``day`` has."""
    return calendar.monthrange(day.year, day.month)[1]


def month_gate(
    delivery_month: date,
    local_time: time,
    *,
    day_of_previous_month: int | None,
    day_offset: int,
) -> datetime:
    """Gate for a monthly product delivered in the month of ``delivery_month`` (UTC).

    With ``day_of_previous_month`` (e.g. 25) the gate is that day of the previous month
    (clamped to its length) at ``local_time``; otherwise ``day_offset`` days from the first
    day of the delivery month (e.g. -5).
    """
    first = month_start(delivery_month)
    if day_of_previous_month is None:
        return day_gate(first, day_offset, local_time)
    previous = first - timedelta(days=1)
    gate_day = previous.replace(day=min(day_of_previous_month, previous.day))
    return day_gate(gate_day, 0, local_time)
