"""Green electricity certificates (GEC, 绿证): issuance in whole MWh, ids, validity, claims.

Rules (market-rules-china.md, section b6): 1 GEC = 1,000 kWh (1 MWh), issued monthly
([C17b]); a sub-MWh remainder rolls to the next month and a GEC is valid for 2 years
([C17c]); a GEC id has 32 characters, 17 of the project filing code and 15 of energy
information ([C17d]); after a green-power trade the GEC moves to the buyer ([C17e]), who
may use it once to prove the renewable origin of consumption.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from vpp.domain.errors import InvalidParameterError

KWH_PER_CERTIFICATE = 1000.0
"""1 GEC = 1,000 kWh = 1 MWh ([C17b])."""
VALIDITY_YEARS = 2
"""A GEC is valid for two years ([C17c])."""
GEC_ID_LENGTH = 32
"""17 characters of project filing code + 15 of energy information ([C17d])."""
_TOLERANCE_KWH = 1e-6
_GEC_ID = re.compile(r"[0-9A-Z]{32}")


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
    from ``carried_in_kwh``. Energy must be finite and >= 0 kWh. Validity is checked when a
    certificate is used (`eligible`), not here.
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


def normalise_gec_id(text: str, field: str = "gec_id") -> str:
    """The id in upper case; InvalidParameterError unless it is 32 letters or digits ([C17d])."""
    value = text.strip().upper() if isinstance(text, str) else ""
    if not _GEC_ID.fullmatch(value):
        raise InvalidParameterError(
            field,
            "gec_id_format",
            f"must be {GEC_ID_LENGTH} letters or digits (17 project code + 15 energy "
            f"information), got {text!r}",
        )
    return value


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def default_valid_until(production_month: date) -> date:
    """The last day of validity of a GEC produced in ``production_month``: two years on
    ([C17c]), i.e. the day before the same month's first day two years later."""
    start = month_start(production_month)
    end = date(start.year + VALIDITY_YEARS, start.month, 1)
    return date.fromordinal(end.toordinal() - 1)


@dataclass(frozen=True)
class Certificate:
    """One GEC as the ledger sees it."""

    gec_id: str
    owner: Hashable
    production_month: date
    valid_until: date
    """Last day of validity (inclusive)."""
    claimed_month: date | None = None
    """The consumption month it was used for, once used (a GEC is used once)."""


def eligible(certificate: Certificate, month: date) -> bool:
    """Whether ``certificate`` may prove green consumption in ``month``.

    It must have been produced in or before the month and be valid on the month's last
    day (a certificate expiring during the month does not count), and must not have been
    used for another month.
    """
    month = month_start(month)
    last_day = date.fromordinal(next_month(month).toordinal() - 1)
    if certificate.claimed_month is not None and certificate.claimed_month != month:
        return False
    return certificate.production_month <= month and certificate.valid_until >= last_day


def certificates_needed(energy_kwh: float) -> int:
    """Whole certificates that cover ``energy_kwh`` (kWh, >= 0): a part-used GEC is used up."""
    if not math.isfinite(energy_kwh) or energy_kwh < 0:
        raise InvalidParameterError("energy_kwh", "non_negative", f"must be >= 0, got {energy_kwh}")
    return math.ceil(energy_kwh / KWH_PER_CERTIFICATE - _TOLERANCE_KWH / KWH_PER_CERTIFICATE)


def allocate(
    certificates: Iterable[Certificate], month: date, need_kwh: Mapping[Hashable, float]
) -> dict[Hashable, list[str]]:
    """GEC ids each owner uses for ``month`` to cover ``need_kwh`` (kWh of consumption matched
    with contracted green power).

    Per owner, certificates already claimed for the month come first, then eligible unused
    ones in order of expiry (the soonest first, so none lapses that could have been used),
    then id; an owner uses at most ``certificates_needed(need)`` of them. Certificates of
    other owners, of other months' claims, expired or not yet produced are never used.
    """
    month = month_start(month)
    by_owner: dict[Hashable, list[Certificate]] = {}
    for certificate in certificates:
        if certificate.owner in need_kwh and eligible(certificate, month):
            by_owner.setdefault(certificate.owner, []).append(certificate)
    out: dict[Hashable, list[str]] = {}
    for owner, need in need_kwh.items():
        pool = sorted(
            by_owner.get(owner, []),
            key=lambda c: (c.claimed_month is None, c.valid_until, c.gec_id),
        )
        out[owner] = [c.gec_id for c in pool[: certificates_needed(need)]]
    return out
