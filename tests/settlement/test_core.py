"""Settling a day by hand: response, scoring at the band edges, shares and agreements."""

from __future__ import annotations

import numpy as np
import pytest

from tests.settlement.helpers import EVENT, hand_day, pack_scorer, two_enterprise_inputs
from vpp.settlement.core import settle


def test_hand_computed_peak_cut_day() -> None:
    result = settle(two_enterprise_inputs(hand_day()), pack_scorer())
    (pc,) = result.products
    assert result.event_intervals.tolist() == [72, 73, 74, 75, 76]
    assert pc.delivered_kw[EVENT].tolist() == [1000.0, 1200.0, 1500.0, 0.0, 500.0]
    assert pc.response_rate[EVENT].tolist() == [1.0, 1.2, 1.5, 0.0, 0.5]
    # 0.25 h x 400 CNY/MWh = 0.1 CNY per kW: paid min(delivered, 1.2 x award)
    assert pc.payment_fen[EVENT].tolist() == [10000, 12000, 12000, 0, 5000]
    # (1000 x 50 % - 0) x 0.1 x 0.5 = 25 CNY; none at exactly 50 %
    assert pc.penalty_fen[EVENT].tolist() == [0, 0, 0, 2500, 0]
    assert pc.response_kw[:, EVENT].tolist() == [
        [600.0, 800.0, 1100.0, 100.0, 300.0],
        [400.0, 400.0, 400.0, -100.0, 200.0],
    ]
    # payments by positive response, penalties by shortfall against allocation (500 each)
    assert pc.payment_share_fen[:, EVENT].tolist() == [
        [6000, 8000, 8800, 0, 3000],
        [4000, 4000, 3200, 0, 2000],
    ]
    assert pc.penalty_share_fen[:, EVENT].tolist() == [[0, 0, 0, 1250, 0], [0, 0, 0, 1250, 0]]
    assert pc.gross_fen.tolist() == [24550, 11950]
    # E1: 20 % of 24550; E2: 10 % of 11950 + 1000 fen/MWh x 0.35 MWh of positive response
    assert pc.positive_mwh.tolist() == [0.725, 0.35]
    assert pc.aggregator_fen.tolist() == [4910, 1195 + 350]
    assert pc.net_fen.tolist() == [19640, 10405]
    assert result.pool_net_fen == 36500
    assert result.aggregator_fen + result.enterprises_net_fen == 36500
    assert pc.unassigned_fen == 0
    assert not pc.flagged.any()


def test_intervals_without_award_score_nothing_whatever_the_response() -> None:
    day = hand_day()
    day[:, 10] = 0.0  # a large "response" outside the award
    result = settle(two_enterprise_inputs(day), pack_scorer())
    (pc,) = result.products
    assert pc.payment_fen[10] == 0 and pc.penalty_fen[10] == 0
    assert pc.response_kw[:, 10].tolist() == [0.0, 0.0]


def test_a_zero_award_product_settles_to_zero() -> None:
    inputs = two_enterprise_inputs(hand_day())
    product = inputs.products[0]
    zero = type(product)(
        product.product,
        product.side,
        np.zeros(96),
        product.price_cny_per_mwh,
        np.zeros_like(product.allocated_kw),
    )
    result = settle(two_enterprise_inputs(hand_day(), products=(zero,)), pack_scorer())
    (pc,) = result.products
    assert result.event_intervals.size == 0
    assert pc.payment_fen.sum() == pc.penalty_fen.sum() == 0
    assert pc.net_fen.tolist() == [0, 0]


def test_a_long_gap_counts_zero_and_is_flagged_a_short_one_is_interpolated() -> None:
    from vpp.settlement.measurement import GapRule, fill_day_tensor

    inputs = two_enterprise_inputs(hand_day())
    values = inputs.values_kw.copy()
    values[-1, 2, 72:75] = np.nan  # E2's asset: three missing intervals, longer than 2
    values[-1, 0, 76] = np.nan  # E1's first asset: one missing interval, between 800 and 800
    filled, mask = fill_day_tensor(values, GapRule(max_fill_intervals=2))
    result = settle(
        two_enterprise_inputs(hand_day(), values_kw=filled, filled=mask[-1]), pack_scorer()
    )
    (pc,) = result.products
    assert pc.gap[2, 72:75].all() and not pc.gap[0, 76]
    # interval 72: E2's 400 kW do not count -> pool 600 kW, paid 60 CNY
    assert pc.delivered_kw[72] == 600.0
    assert pc.payment_fen[72] == 6000
    assert pc.flagged[:, 72].tolist() == [0, 1]
    # interval 76: asset 0 interpolated to 800 kW (no response), flagged as interpolated
    assert pc.response_kw[0, 76] == 100.0
    assert pc.flagged[:, 76].tolist() == [1, 0]


def test_nobody_to_bear_a_penalty_leaves_it_with_the_aggregator() -> None:
    day = hand_day()
    inputs = two_enterprise_inputs(day)
    product = inputs.products[0]
    no_alloc = type(product)(
        product.product,
        product.side,
        product.awarded_kw,
        product.price_cny_per_mwh,
        np.zeros_like(product.allocated_kw),
    )
    result = settle(two_enterprise_inputs(day, products=(no_alloc,)), pack_scorer())
    (pc,) = result.products
    # no asset backs the award: the pool delivered nothing and the aggregator bears it all
    assert pc.delivered_kw[EVENT].tolist() == [0.0] * 5
    assert pc.penalty_fen[EVENT].tolist() == [2500] * 5
    assert pc.unassigned_fen == -12500
    assert pc.net_fen.tolist() == [0, 0]
    assert result.aggregator_fen == -12500 == result.pool_net_fen


def test_valley_filling_measures_upwards() -> None:
    from tests.settlement.helpers import DAY, flat_history, history_days
    from vpp.domain.units import Direction
    from vpp.settlement.core import DayInputs, ProductDay
    from vpp.settlement.sharing import Agreement

    values = flat_history([100.0])
    values[-1, 0, 40] = 600.0  # +500 kW over the baseline
    award = np.zeros(96)
    award[40] = 1000.0
    alloc = np.zeros((1, 96))
    alloc[0, 40] = 1000.0
    inputs = DayInputs(
        day=DAY,
        days=history_days(),
        values_kw=values,
        filled=np.zeros((1, 96), dtype=bool),
        asset_account=np.array([0]),
        accounts=("E",),
        agreements=(Agreement(0, 0),),
        products=(
            ProductDay("peak_shaving.valley_fill", Direction.UP, award, np.full(96, 150.0), alloc),
        ),
    )
    (vf,) = settle(inputs, pack_scorer()).products
    assert vf.delivered_kw[40] == pytest.approx(500.0)
    # rate exactly 50 %: paid 500 kW x 0.25 h x 150 / 1000 = 18.75 CNY, no penalty
    assert vf.payment_fen[40] == 1875
    assert vf.penalty_fen[40] == 0
    assert vf.net_fen.tolist() == [1875]
