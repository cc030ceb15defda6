"""GEC ids, validity, one use per certificate, and the allocation order."""

from __future__ import annotations

from datetime import date

import pytest

from vpp.domain.errors import InvalidParameterError
from vpp.green.core.certificates import (
    Certificate,
    allocate,
    certificates_needed,
    default_valid_until,
    eligible,
    normalise_gec_id,
)

NOV = date(2026, 11, 1)
GEC = "1" * 17 + "202611" + "0" * 9


def cert(
    n: int,
    owner: str = "A",
    produced: date = NOV,
    valid_until: date | None = None,
    claimed: date | None = None,
) -> Certificate:
    gec_id = f"{n:032d}"
    return Certificate(
        gec_id, owner, produced, valid_until or default_valid_until(produced), claimed
    )


def test_ids_are_32_letters_or_digits() -> None:
    assert normalise_gec_id(GEC) == GEC
    assert normalise_gec_id(" ab" + GEC[2:]) == "AB" + GEC[2:]
    for bad in (GEC[:-1], GEC + "1", GEC[:-1] + "-", ""):
        with pytest.raises(InvalidParameterError, match="gec_id_format"):
            normalise_gec_id(bad)


def test_validity_is_two_years_and_checked_on_the_months_last_day() -> None:
    assert default_valid_until(date(2026, 11, 17)) == date(2028, 10, 31)
    c = cert(1)
    assert not eligible(c, date(2026, 10, 1))  # not produced yet
    assert eligible(c, NOV)
    assert eligible(c, date(2028, 10, 1))
    assert not eligible(c, date(2028, 11, 1))  # expired
    assert not eligible(cert(2, valid_until=date(2026, 11, 29)), NOV)  # lapses in the month
    assert not eligible(cert(3, claimed=date(2026, 12, 1)), NOV)  # used for another month
    assert eligible(cert(4, claimed=NOV), NOV)


def test_certificates_needed_counts_part_used_ones_whole() -> None:
    assert certificates_needed(0.0) == 0
    assert certificates_needed(1000.0) == 1
    assert certificates_needed(1000.0000001) == 1
    assert certificates_needed(1500.0) == 2
    with pytest.raises(InvalidParameterError):
        certificates_needed(-1.0)


def test_allocation_uses_each_certificate_once_soonest_expiry_first() -> None:
    pool = [
        cert(1, valid_until=date(2028, 6, 30)),
        cert(2, valid_until=date(2027, 1, 31)),
        cert(3, claimed=NOV, valid_until=date(2028, 9, 30)),
        cert(4, claimed=date(2026, 10, 1)),  # used for October
        cert(5, valid_until=date(2026, 11, 20)),  # expires in November
        cert(6, owner="B"),
        cert(7, produced=date(2026, 12, 1)),  # produced later
    ]
    out = allocate(pool, NOV, {"A": 2500.0, "C": 1000.0})
    # A needs 3: its November claim first, then the sooner-expiring of the unused ones.
    assert out["A"] == [f"{3:032d}", f"{2:032d}", f"{1:032d}"]
    assert out["C"] == []
    assert allocate(pool, NOV, {"A": 900.0})["A"] == [f"{3:032d}"]
    assert allocate(pool, NOV, {"A": 9000.0})["A"] == [f"{n:032d}" for n in (3, 2, 1)]
