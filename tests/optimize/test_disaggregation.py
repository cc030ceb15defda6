"""plan_setpoints: awards split among assets within their limits, shortfall reported."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimize.conftest import battery_fleet, mixed_fleet, random_products
from vpp.domain.units import Direction
from vpp.optimize.bidding import BidInputs, build_bids
from vpp.optimize.disaggregation import plan_setpoints
from vpp.optimize.problem import SolverOptions, SolveStatus

UP, DOWN = Direction.UP, Direction.DOWN


def test_feasible_award_is_met_exactly_and_fairly() -> None:
    """4 identical 10 kW batteries, 24 kW down for 2 intervals: 6 kW each."""
    fleet = battery_fleet(4, 4)
    award = np.array([[0.0, 24.0, 24.0, 0.0]])
    plan = plan_setpoints(fleet, np.zeros((4, 4)), award, [DOWN])
    assert plan.shortfall_kw == pytest.approx(np.zeros((1, 4)), abs=1e-7)
    assert plan.delivery_kw.sum(axis=0) == pytest.approx(award)
    assert plan.setpoint_kw[:, 1] == pytest.approx(np.full(4, -6.0))
    assert plan.utilisation[1] == pytest.approx(0.6)
    assert plan.frame().loc[("b0", 1), "setpoint_kw"] == pytest.approx(-6.0)


def test_cheaper_asset_first_when_cost_says_so() -> None:
    fleet = battery_fleet(2, 4)
    fleet = type(fleet)(**{**fleet.__dict__, "activation_cost_cny_per_mwh": np.array([0.0, 500.0])})
    plan = plan_setpoints(
        fleet, np.zeros((2, 4)), np.full((1, 4), 10.0), [UP], fairness_cny_per_mwh=0.0
    )
    assert plan.delivery_kw[0, 0] == pytest.approx(np.full(4, 10.0))
    assert plan.delivery_kw[1, 0] == pytest.approx(np.zeros(4), abs=1e-7)
    assert plan.activation_cost_cny == pytest.approx(0.0, abs=1e-9)


def test_energy_limit_turns_into_shortfall() -> None:
    """One full 10 kWh battery asked for 10 kW down for 8 intervals: it holds 4 (10 kWh)."""
    fleet = battery_fleet(1, 8, e_max_kwh=10.0, e_initial_kwh=10.0)
    plan = plan_setpoints(fleet, np.zeros((1, 8)), np.full((1, 8), 10.0), [DOWN])
    assert plan.delivery_kw.sum() * 0.25 == pytest.approx(10.0)
    assert plan.shortfall_kw.sum() == pytest.approx(40.0)
    assert (plan.setpoint_kw >= -10.0 - 1e-7).all()


def test_power_limit_with_firm_schedule_and_reserve() -> None:
    """Firm +5 kW, 10 kW battery, 20 % reserve (hi 8 kW): only 3 kW more up is possible."""
    fleet = battery_fleet(1, 2)
    plan = plan_setpoints(
        fleet, np.full((1, 2), 5.0), np.full((1, 2), 4.0), [UP], reserve_margin=0.2
    )
    assert plan.delivery_kw[0, 0] == pytest.approx([3.0, 3.0])
    assert plan.shortfall_kw[0] == pytest.approx([1.0, 1.0])
    assert plan.setpoint_kw[0] == pytest.approx([8.0, 8.0])


def test_offered_caps_bound_each_asset() -> None:
    fleet = battery_fleet(2, 2)
    offered = np.zeros((2, 1, 2))
    offered[0] = 3.0
    offered[1] = 4.0
    plan = plan_setpoints(fleet, np.zeros((2, 2)), np.full((1, 2), 9.0), [UP], offered_kw=offered)
    assert plan.delivery_kw[:, 0, 0] == pytest.approx([3.0, 4.0])
    assert plan.shortfall_kw[0] == pytest.approx([2.0, 2.0])


@pytest.mark.parametrize("seed", range(3))
def test_any_award_within_the_bid_is_deliverable(seed: int) -> None:
    """Awards up to the pool's offers split without shortfall: the robust box at work."""
    horizon = 10
    rng = np.random.default_rng(seed)
    fleet = mixed_fleet(5, horizon, seed)
    inputs = BidInputs(
        fleet, random_products(horizon, seed), rng.uniform(100, 600, horizon), reserve_margin=0.1
    )
    bid = build_bids(inputs)
    award = bid.pool_offer_kw * rng.uniform(0, 1, bid.pool_offer_kw.shape)
    plan = plan_setpoints(
        fleet,
        bid.firm_kw,
        award,
        [p.direction for p in inputs.products],
        offered_kw=bid.offer_kw,
        reserve_margin=0.1,
    )
    assert plan.shortfall_kw == pytest.approx(np.zeros_like(award), abs=1e-5)
    assert plan.delivery_kw.sum(axis=0) == pytest.approx(award, abs=1e-5)


def test_interior_point_reaches_the_simplex_optimum() -> None:
    """The day plan's LP runs on HiGHS's interior point method: same optimum, same rules."""
    n, horizon = 30, 24
    fleet = mixed_fleet(n, horizon, seed=5)
    award = np.zeros((2, horizon))
    award[0, 6:12] = fleet.hi_kw[:, 6:12].sum(axis=0) / 2
    award[1, 15:20] = -fleet.lo_kw[:, 15:20].sum(axis=0) / 2
    simplex, ipm = (
        plan_setpoints(fleet, np.zeros((n, horizon)), award, [UP, DOWN], options)
        for options in (SolverOptions(lp_method="highs"), SolverOptions(lp_method="highs-ipm"))
    )
    assert ipm.status == simplex.status == SolveStatus.OPTIMAL
    assert ipm.shortfall_kw.sum() == pytest.approx(simplex.shortfall_kw.sum(), abs=1e-6)
    assert ipm.activation_cost_cny == pytest.approx(simplex.activation_cost_cny, rel=1e-6)
    assert ipm.utilisation == pytest.approx(simplex.utilisation, abs=1e-6)
    assert (ipm.setpoint_kw <= fleet.hi_kw + 1e-6).all()
    assert (ipm.setpoint_kw >= fleet.lo_kw - 1e-6).all()
