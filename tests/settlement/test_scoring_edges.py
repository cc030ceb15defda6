"""More hand-computed settlement cases: a negative pool response, just below the penalty
threshold, an asset without baseline history, and spot's deviation scoring (every edge)."""

from __future__ import annotations

import numpy as np
import pytest

from market.spot import DayAheadSell
from tests.settlement.helpers import (
    DAY,
    EVENT,
    flat_history,
    hand_day,
    history_days,
    pack_scorer,
    two_enterprise_inputs,
)
from vpp.domain.units import Direction
from vpp.settlement.core import DayInputs, ProductDay, settle
from vpp.settlement.sharing import Agreement

SPOT = "spot.day_ahead.sell"


def test_a_negative_pool_response_earns_nothing_and_pays_the_full_penalty() -> None:
    day = hand_day()
    # interval 75: every asset moves the wrong way: -100, 0 and -100 kW = -200 kW
    day[:, 75] = (900.0, 500.0, 700.0)
    # interval 76: 499 kW, one kW below R1 = 50 % of the 1,000 kW award
    day[:, 76] = (600.0, 401.0, 400.0)
    (pc,) = settle(two_enterprise_inputs(day), pack_scorer()).products
    assert pc.delivered_kw[75] == -200.0 and pc.response_rate[75] == -0.2
    assert pc.payment_fen[75] == 0
    # (1000 x 50 % - (-200)) kW x 0.25 h x 400 CNY/MWh / 1000 x 0.5 = 35 CNY
    assert pc.penalty_fen[75] == 3500
    # shortfall against allocation: E1 600 - (-100) = 700, E2 400 - (-100) = 500 -> 7:5
    assert pc.penalty_share_fen[:, 75].tolist() == [2042, 1458]
    # (500 - 499) x 0.1 x 0.5 = 0.05 CNY; paid 499 x 0.1 = 49.90 CNY
    assert pc.delivered_kw[76] == 499.0
    assert (pc.payment_fen[76], pc.penalty_fen[76]) == (4990, 5)


def test_an_asset_without_history_counts_zero_and_is_flagged() -> None:
    inputs = two_enterprise_inputs(hand_day())
    values = inputs.values_kw.copy()
    values[:-1, 2, :] = np.nan  # E2's asset has no history: no baseline
    (pc,) = settle(two_enterprise_inputs(hand_day(), values_kw=values), pack_scorer()).products
    assert pc.gap[2, EVENT].all() and not pc.gap[:2, EVENT].any()
    # E2 responds 0 in every interval: the pool is E1's 600, 800, 1100, 100, 300 kW
    assert pc.delivered_kw[EVENT].tolist() == [600.0, 800.0, 1100.0, 100.0, 300.0]
    assert pc.flagged[:, EVENT].tolist() == [[0] * 5, [1] * 5]
    assert pc.response_kw[1, EVENT].tolist() == [0.0] * 5


def spot_inputs(measured: list[float]) -> DayInputs:
    """One 600 kW asset (flat history); 400 kW of spot sold at 500 CNY/MWh in 40-43."""
    values = flat_history([600.0])
    values[-1, 0, 40:44] = measured
    award = np.zeros(96)
    award[40:44] = 400.0
    alloc = np.zeros((1, 96))
    alloc[0, 40:44] = 400.0
    return DayInputs(
        day=DAY,
        days=history_days(),
        values_kw=values,
        filled=np.zeros((1, 96), dtype=bool),
        asset_account=np.array([0]),
        accounts=("E",),
        agreements=(Agreement(2000, 0),),
        products=(ProductDay(SPOT, Direction.DOWN, award, np.full(96, 500.0), alloc),),
        event_days=frozenset({DAY}),
    )


def test_spot_deviation_scoring_by_hand() -> None:
    packs = {SPOT: DayAheadSell()}
    # responses: exactly the award, 100 kW above it, -100 kW (wrong way), a gap (counts 0)
    result = settle(spot_inputs([200.0, 100.0, 700.0, np.nan]), pack_scorer(packs))  # type: ignore[arg-type]
    (spot,) = result.products
    k = slice(40, 44)
    assert spot.delivered_kw[k].tolist() == [400.0, 500.0, -100.0, 0.0]
    # a seller is paid its position: 400 kW x 0.25 h x 500 CNY/MWh = 50 CNY per interval
    assert spot.payment_fen[k].tolist() == [5000] * 4
    # deviation x 0.25 h x 500 / 1000 x 1: 0, 100 kW -> 12.50, 500 kW -> 62.50, 400 kW -> 50
    assert spot.penalty_fen[k].tolist() == [0, 1250, 6250, 5000]
    assert spot.flagged[0, k].tolist() == [0, 0, 0, 1]
    # The enterprise is paid by positive response (40, 41) and bears penalties by shortfall
    # against its allocation (42: 500 kW, 43: 400 kW). Nobody falls short in 41 and nobody
    # responds positively in 42-43: those amounts stay with the aggregator.
    assert spot.payment_share_fen[0, k].tolist() == [5000, 5000, 0, 0]
    assert spot.penalty_share_fen[0, k].tolist() == [0, 0, 6250, 5000]
    assert spot.gross_fen.tolist() == [-1250]
    assert spot.aggregator_fen.tolist() == [-250]  # 20 % of a loss is borne too
    assert spot.net_fen.tolist() == [-1000]
    assert spot.unassigned_fen == 10000 - 1250
    assert result.pool_net_fen == 20000 - 12500 == -1000 + (-250 + 8750)


@pytest.mark.parametrize(("measured", "penalty_fen"), [(200.0, 0), (199.0, 13), (201.0, 13)])
def test_spot_has_no_tolerance_band_by_default(measured: float, penalty_fen: int) -> None:
    (spot,) = settle(
        spot_inputs([measured, 600.0, 600.0, 600.0]),
        pack_scorer({SPOT: DayAheadSell()}),
    ).products
    # 1 kW off the award: 1 x 0.25 x 500 / 1000 = 0.125 CNY -> 13 fen (half away from zero)
    assert spot.penalty_fen[40] == penalty_fen
