"""Green power: certificates with remainders carried, price split, matched-volume records."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.certificates import CertificateMonth, certificates_for
from market.green_power import (
    DayAheadGreenBuy,
    DayAheadGreenSell,
    GreenMatch,
    MonthlyGreenBuy,
    split_green_price,
)
from tests.market import DAY, make_bid
from vpp.domain.market import Demand
from vpp.domain.units import Direction

PROPERTY = settings(database=None, deadline=None)
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def test_certificates_roll_sub_mwh_remainders_to_the_next_month() -> None:
    # Given out of order and by any day of the month.
    months = certificates_for({MAR: 1800.5, date(2026, 1, 17): 2500.0, FEB: 700.0})
    assert months[:2] == [
        CertificateMonth(JAN, 2500.0, 0.0, 2, 500.0),
        CertificateMonth(FEB, 700.0, 500.0, 1, 200.0),
    ]
    march = months[2]
    assert (march.month, march.energy_kwh, march.carried_in_kwh) == (MAR, 1800.5, 200.0)
    assert march.certificates == 2
    assert march.carried_out_kwh == pytest.approx(0.5)


def test_certificates_start_from_a_carried_remainder() -> None:
    [month] = certificates_for({JAN: 100.0}, carried_in_kwh=950.0)
    assert month.certificates == 1
    assert month.carried_out_kwh == pytest.approx(50.0)


def test_float_sums_that_are_a_whole_mwh_give_the_certificate() -> None:
    [month] = certificates_for({JAN: sum([0.1] * 10_000)})  # 1000.0000000001588 or so
    assert month.certificates == 1
    [month] = certificates_for({JAN: 3 * (1000 / 3)})
    assert month.certificates == 1
    assert month.carried_out_kwh == pytest.approx(0.0, abs=1e-6)


def test_certificates_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="given twice"):
        certificates_for({JAN: 1.0, date(2026, 1, 2): 2.0})
    with pytest.raises(ValueError, match=">= 0 kWh"):
        certificates_for({JAN: -1.0})
    with pytest.raises(ValueError, match="carried_in_kwh"):
        certificates_for({JAN: 1.0}, carried_in_kwh=1000.0)


@PROPERTY
@given(st.lists(st.floats(0, 1e7), min_size=1, max_size=24))
def test_no_energy_is_lost_or_invented(energies: list[float]) -> None:
    months = {date(2024 + i // 12, i % 12 + 1, 1): kwh for i, kwh in enumerate(energies)}
    out = certificates_for(months)
    issued = sum(m.certificates for m in out) * 1000.0
    assert issued + out[-1].carried_out_kwh == pytest.approx(sum(energies), abs=1e-3)
    assert all(0 <= m.carried_out_kwh < 1000 for m in out)


def test_price_split_takes_the_premium_above_the_benchmark() -> None:
    assert split_green_price(330.0, 307.8) == pytest.approx((307.8, 22.2))
    assert split_green_price(280.0, 307.8) == (280.0, 0.0)


def test_benchmark_override_moves_the_floor_unless_the_floor_is_given() -> None:
    assert DayAheadGreenBuy({"benchmark_cny_per_mwh": 400.0}).limits().price_floor_cny_per_mwh == (
        pytest.approx(320.0)
    )
    explicit = DayAheadGreenBuy({"benchmark_cny_per_mwh": 400.0, "price_floor_cny_per_mwh": 300.0})
    assert explicit.limits().price_floor_cny_per_mwh == 300.0
    assert DayAheadGreenSell({"energy_price_band": 0.1}).rules.price_floor_cny_per_mwh == (
        pytest.approx(277.02)
    )


def test_day_ahead_matches_carry_kwh_per_hour_and_prices() -> None:
    pack = DayAheadGreenBuy()
    bids = [
        make_bid(pack.product, Direction.UP, {12: [(330.0, 300.0)]}, participant="A", intervals=24),
        make_bid(pack.product, Direction.UP, {12: [(300.0, 400.0)]}, participant="B", intervals=24),
    ]
    supply = Demand(pack.product, DAY, tuple(500.0 if h == 12 else 0.0 for h in range(24)))
    matches = pack.matches(pack.clear(supply, bids))
    a, b = matches
    assert b == GreenMatch(pack.product, "B", Direction.UP, DAY, 12, 200.0, 300.0, 300.0, 0.0)
    assert (a.participant, a.side, a.day, a.interval) == ("A", Direction.UP, DAY, 12)
    assert (a.energy_kwh, a.price_cny_per_mwh, a.energy_price_cny_per_mwh) == (300.0, 330.0, 307.8)
    assert a.premium_cny_per_mwh == pytest.approx(22.2)


def test_monthly_awards_apply_to_every_day_and_count_certificates() -> None:
    pack = MonthlyGreenBuy()
    bid = make_bid(pack.product, Direction.UP, {12: [(320.0, 500.0)]}, intervals=24, day=MAR)
    supply = Demand(pack.product, MAR, tuple(800.0 if h == 12 else 0.0 for h in range(24)))
    matches = pack.matches(pack.clear(supply, [bid]))
    assert len(matches) == 31
    assert {m.day for m in matches} == {date(2026, 3, d) for d in range(1, 32)}
    assert all(m.energy_kwh == 500.0 and m.interval == 12 for m in matches)
    [month] = certificates_for({MAR: sum(m.energy_kwh for m in matches)})
    assert (month.certificates, month.carried_out_kwh) == (15, 500.0)


def test_monthly_clearing_needs_the_first_day_of_the_month() -> None:
    pack = MonthlyGreenBuy()
    with pytest.raises(ValueError, match="first day of the month"):
        pack.clear(Demand(pack.product, date(2026, 3, 2), (0.0,) * 24), [])


def test_matches_refuse_another_products_clearing() -> None:
    buy, sell = DayAheadGreenBuy(), DayAheadGreenSell()
    clearing = sell.clear(Demand(sell.product, DAY, (0.0,) * 24), [])
    with pytest.raises(ValueError, match="clearing is for"):
        buy.matches(clearing)
