"""Scoring: the [C14] penalty, the payment band and deviation settlement, by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.green_power import DayAheadGreenSell
from market.peak_shaving import PeakCutting, ValleyFilling
from market.spot import DayAheadBuy, DayAheadSell
from vpp.domain.market import IntervalScore

PROPERTY = settings(database=None, deadline=None)


def test_penalty_below_half_response() -> None:
    """Award 1000 kW, delivered 300 kW, 400 CNY/MWh, 0.25 h.

    Penalty = (1000 × 0.5 − 300) × 0.25 h × 400 / 1000 × 0.5 = 10 CNY;
    payment = 300 × 0.25 × 400 / 1000 = 30 CNY.
    """
    [s] = PeakCutting().score([1000.0], [300.0], [400.0])
    assert (s.interval, s.awarded_kw, s.delivered_kw, s.response_rate) == (0, 1000.0, 300.0, 0.3)
    assert s.penalty_cny == pytest.approx(10.0)
    assert s.payment_cny == pytest.approx(30.0)


def test_no_penalty_at_or_above_the_threshold() -> None:
    scores = PeakCutting().score([1000.0, 1000.0], [500.0, 800.0], [400.0, 400.0])
    assert [s.penalty_cny for s in scores] == [0.0, 0.0]
    assert [s.payment_cny for s in scores] == pytest.approx([50.0, 80.0])


def test_payment_is_capped_at_120_percent_of_the_award() -> None:
    [s] = ValleyFilling().score([1000.0], [1500.0], [200.0])
    # min(1500, 1200) × 0.25 × 200 / 1000 = 60 CNY.
    assert s.payment_cny == pytest.approx(60.0)
    assert s.response_rate == 1.5
    assert s.penalty_cny == 0.0


def test_wrong_way_delivery_is_not_paid_and_deepens_the_penalty() -> None:
    [s] = PeakCutting().score([1000.0], [-100.0], [400.0])
    assert s.payment_cny == 0.0
    # (500 + 100) × 0.25 × 0.4 × 0.5 = 30 CNY.
    assert s.penalty_cny == pytest.approx(30.0)


def test_intervals_without_award_score_zero_even_with_nan_price() -> None:
    scores = PeakCutting().score([0.0, 1000.0], [250.0, 1000.0], [math.nan, 400.0])
    assert scores[0] == IntervalScore(0, 0.0, 250.0, 0.0, 0.0, 0.0)
    assert scores[1].interval == 1
    assert scores[1].payment_cny == pytest.approx(100.0)


def test_threshold_and_factor_are_configurable() -> None:
    pack = PeakCutting({"penalty_threshold": 0.8, "penalty_factor": 1.0})
    [s] = pack.score([1000.0], [600.0], [400.0])
    # (800 − 600) × 0.25 × 0.4 × 1 = 20 CNY.
    assert s.penalty_cny == pytest.approx(20.0)


def test_spot_sell_is_settled_by_deviation() -> None:
    """The seller is paid its position (1000 kW × 0.25 h × 400 / 1000 = 100 CNY) and
    charged |award − delivered| × 0.25 h × price × 1."""
    short, over, exact = DayAheadSell().score([1000.0] * 3, [800.0, 1100.0, 1000.0], [400.0] * 3)
    assert [short.payment_cny, over.payment_cny, exact.payment_cny] == pytest.approx([100.0] * 3)
    assert short.penalty_cny == pytest.approx(20.0)
    assert over.penalty_cny == pytest.approx(10.0)
    assert exact.penalty_cny == 0.0


def test_spot_buy_pays_no_payment_and_deviation_factor_is_configurable() -> None:
    [s] = DayAheadBuy({"penalty_factor": 2.0}).score([1000.0], [700.0], [400.0])
    assert s.payment_cny == 0.0
    # 300 × 0.25 × 0.4 × 2 = 60 CNY.
    assert s.penalty_cny == pytest.approx(60.0)


def test_deviation_tolerance_band() -> None:
    pack = DayAheadSell({"penalty_threshold": 0.9, "payment_band_upper": 1.1})
    low, inside, high = pack.score([1000.0] * 3, [850.0, 1050.0, 1200.0], [400.0] * 3)
    assert low.penalty_cny == pytest.approx(5.0)  # 50 kW below 900
    assert inside.penalty_cny == 0.0
    assert high.penalty_cny == pytest.approx(10.0)  # 100 kW above 1100


def test_hourly_products_use_one_hour_intervals() -> None:
    [s] = DayAheadGreenSell().score([500.0], [400.0], [320.0])
    # Position 500 kWh × 320 / 1000 = 160 CNY; deviation 100 kWh × 0.32 = 32 CNY.
    assert s.payment_cny == pytest.approx(160.0)
    assert s.penalty_cny == pytest.approx(32.0)


def test_bad_inputs_are_refused() -> None:
    pack = PeakCutting()
    with pytest.raises(ValueError, match="one value per interval"):
        pack.score([1.0, 2.0], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="awarded_kw"):
        pack.score([-1.0], [0.0], [400.0])
    with pytest.raises(ValueError, match="price must be finite"):
        pack.score([100.0], [0.0], [math.nan])


@PROPERTY
@given(
    st.lists(
        st.tuples(st.floats(0, 1e4), st.floats(-1e4, 2e4), st.floats(0, 1500)),
        min_size=1,
        max_size=96,
    )
)
def test_payment_and_penalty_are_never_negative_and_penalty_only_below_threshold(
    rows: list[tuple[float, float, float]],
) -> None:
    award, delivered, price = (list(column) for column in zip(*rows, strict=True))
    for s in PeakCutting().score(award, delivered, price):
        assert s.payment_cny >= 0
        assert s.penalty_cny >= 0
        if s.awarded_kw > 0 and s.response_rate >= 0.5:
            assert s.penalty_cny == 0
        assert s.payment_cny <= 1.2 * s.awarded_kw * 0.25 * price[s.interval] / 1000 + 1e-9
