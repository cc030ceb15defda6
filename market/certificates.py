"""Green electricity certificates (GEC, 绿证) from monthly renewable energy: whole MWh only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

KWH_PER_CERTIFICATE = 1000.0
"""1 GEC = 1,000 kWh = 1 MWh ([C17b])."""
_TOLERANCE_KWH = 1e-6


@dataclass(frozen=True)
class CertificateMonth:
    """Certificates of one month: whole GECs issued and the sub-MWh remainder carried on."""

    month: date
    """First day of the month."""
    energy_kwh: float
    """Renewable energy of the month (kWh)."""
    carried_in_kwh: float
    """Remainder brought from the previous month (kWh, < 1000)."""
    certificates: int
    """Whole certificates issued for the month (1 GEC = 1 MWh)."""
    carried_out_kwh: float
    """Remainder rolled to the next month (kWh, < 1000)."""


def certificates_for(
    kwh_by_month: Mapping[date, float], carried_in_kwh: float = 0.0
) -> list[CertificateMonth]:
    """Whole GECs per month from renewable kWh per month, remainders rolled forward.

    GECs are issued monthly, one per 1,000 kWh ([C17b]); a remainder below 1,000 kWh rolls
    to the next month ([C17c]). Months are taken in calendar order (keys may be any day of
    their month; a month missing between two keys simply passes its remainder on), starting
    from ``carried_in_kwh``. Energy must be finite and >= 0 kWh. The 2-year validity and
    tradability ([C17c]) are the registry's business, not this count's.
    """
    months: dict[date, float] = {}
    for key, kwh in kwh_by_month.items():
        month = key.replace(day=1)
        if month in months:
            raise ValueError(f"month {month:%Y-%m} given twice")
        if not math.isfinite(kwh) or kwh < 0:
            raise ValueError(f"energy of {month:%Y-%m} must be finite and >= 0 kWh, got {kwh}")
        months[month] = float(kwh)
    if not math.isfinite(carried_in_kwh) or not 0 <= carried_in_kwh < KWH_PER_CERTIFICATE:
        raise ValueError(f"carried_in_kwh must be in [0, 1000), got {carried_in_kwh}")
    out: list[CertificateMonth] = []
    carried = float(carried_in_kwh)
    for month in sorted(months):
        total = carried + months[month]
        whole = math.floor((total + _TOLERANCE_KWH) / KWH_PER_CERTIFICATE)
        remainder = max(total - whole * KWH_PER_CERTIFICATE, 0.0)
        out.append(CertificateMonth(month, months[month], carried, whole, remainder))
        carried = remainder
    return out
