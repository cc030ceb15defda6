"""Green-power awards as green-power records (pure): delivery runs per enterprise, GEC counts.

When the pool buys green power (绿电, a ``green_power.*`` product on the buying side), the
market awards the pool hourly volumes and the bid's allocations say which enterprises' assets
back each hour. Each enterprise's share of a delivery day becomes green-power contracts:

- **Runs.** Per enterprise and delivery day, consecutive intervals with the same awarded
  power (kW, summed over its assets) form one run; a run is one contract of
  ``kW x interval hours x intervals`` kWh delivered evenly over [start, end), the same flat
  profile the green ledger spreads every contract with (`vpp.green.core.matching`).
- **Certificates.** After a green-power trade the GECs move to the buyer ([C17e]), 1 GEC per
  MWh ([C17b]). Per enterprise and delivery month the awarded energy is certified in whole
  MWh of the month's running total: ``floor(total kWh / 1000)`` certificates, so several
  small awards of a month add up to whole certificates. Assumption: a remainder below 1 MWh
  at the end of the month is not certified (the transfer is per month of delivery; the
  issuer's rolling of remainders, [C17c], applies to the generator's issuance, not to the
  buyer).
- **Ids.** The simulated market does not hand over certificate ids, so each GEC gets a
  deterministic, well-formed 32-character id ([C17d]): 17 characters derived from the
  enterprise (a stand-in for the project code) and 15 of energy information (delivery month
  ``YYYYMM`` and a 9-digit sequence number). A real exchange adapter passes the transferred
  ids instead. Deterministic ids make recording the same award twice create nothing new.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from vpp.domain.time import day_bounds_utc
from vpp.green.core.certificates import GEC_ID_LENGTH, KWH_PER_CERTIFICATE

PROJECT_CODE_LENGTH = 17
"""Characters of a GEC id naming the project ([C17d])."""
SEQUENCE_DIGITS = 9
SAME_KW = 1e-6
"""Awarded powers closer than this (kW) belong to one run."""
_TOLERANCE_KWH = 1e-6
Owner = TypeVar("Owner", bound=Hashable)


@dataclass(frozen=True)
class DeliveryRun:
    """Green power awarded to one enterprise over [start, end) of one delivery day."""

    owner: Hashable
    day: date
    """Delivery market day (Asia/Shanghai)."""
    first_interval: int
    """First interval of the run in the product's resolution (hours for hourly products)."""
    intervals: int
    power_kw: float
    """Awarded power in every interval of the run (kW, > 0)."""
    start: datetime
    """UTC, tz-aware."""
    end: datetime
    energy_kwh: float
    """power_kw x interval hours x intervals (kWh)."""


def delivery_runs(
    awarded_kw: Mapping[Owner, Sequence[float]],
    delivery_days: Sequence[date],
    intervals_per_day: int,
) -> list[DeliveryRun]:
    """Runs of equal awarded power per owner and delivery day (module docstring).

    ``awarded_kw``: per owner, the awarded power of each interval of the product's day (kW,
    ``intervals_per_day`` values, >= 0; 24 for hourly products). The same profile is
    delivered on every day of ``delivery_days`` (one day for day-ahead products, every day of
    the month for monthly ones). Intervals at or below `SAME_KW` are not awarded.
    """
    if intervals_per_day < 1 or 24 * 60 % intervals_per_day:
        raise ValueError(f"intervals_per_day must divide a day evenly, got {intervals_per_day}")
    step = timedelta(minutes=24 * 60 // intervals_per_day)
    hours = step.total_seconds() / 3600.0
    runs: list[DeliveryRun] = []
    for owner, profile in awarded_kw.items():
        values = [float(v) for v in profile]
        if len(values) != intervals_per_day:
            raise ValueError(f"{owner}: {len(values)} values, expected {intervals_per_day}")
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"{owner}: awarded power must be finite and >= 0 kW")
        spans: list[tuple[int, int, float]] = []
        for k, kw in enumerate(values):
            if kw <= SAME_KW:
                continue
            if spans and spans[-1][0] + spans[-1][1] == k and abs(spans[-1][2] - kw) <= SAME_KW:
                first, count, power = spans[-1]
                spans[-1] = (first, count + 1, power)
            else:
                spans.append((k, 1, kw))
        for day in delivery_days:
            day_start = day_bounds_utc(day)[0]
            runs.extend(
                DeliveryRun(
                    owner=owner,
                    day=day,
                    first_interval=first,
                    intervals=count,
                    power_kw=power,
                    start=day_start + first * step,
                    end=day_start + (first + count) * step,
                    energy_kwh=power * hours * count,
                )
                for first, count, power in spans
            )
    return runs


def certificates_due(month_total_kwh: float) -> int:
    """Whole GECs (1 per 1,000 kWh) that a month's awarded green power carries (kWh >= 0)."""
    if not math.isfinite(month_total_kwh) or month_total_kwh < 0:
        raise ValueError(f"energy must be finite and >= 0 kWh, got {month_total_kwh}")
    return math.floor((month_total_kwh + _TOLERANCE_KWH) / KWH_PER_CERTIFICATE)


def award_gec_id(owner_key: str, month: date, sequence: int) -> str:
    """The deterministic id of an enterprise's ``sequence``-th awarded GEC of ``month``
    (1-based): 17 upper-case hex characters of SHA-256 of the owner, ``YYYYMM`` and the
    sequence in 9 digits (module docstring)."""
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(f"sequence must be in [1, {10**SEQUENCE_DIGITS}), got {sequence}")
    project = hashlib.sha256(f"vpp-green-award:{owner_key}".encode()).hexdigest()
    gec_id = f"{project[:PROJECT_CODE_LENGTH].upper()}{month:%Y%m}{sequence:0{SEQUENCE_DIGITS}d}"
    assert len(gec_id) == GEC_ID_LENGTH
    return gec_id


__all__ = [
    "DeliveryRun",
    "award_gec_id",
    "certificates_due",
    "delivery_runs",
]
