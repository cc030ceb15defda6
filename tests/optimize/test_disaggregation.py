"""plan_setpoints: awards split among assets within their limits, shortfall reported."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.optimize.conftest import battery_fleet, mixed_fleet, random_products
from vpp.domain.units import Direction
from vpp.optimize.bidding import BidInputs, build_bids
from vpp.optimize.disaggregation import (
    MONOLITHIC_MAX_VARIABLES,
    Method,
    SetpointPlan,
    plan_setpoints,
)
from vpp.optimize.fleet import Fleet
from vpp.optimize.problem import SolverOptions, SolveStatus

UP, DOWN = Direction.UP, Direction.DOWN
RESERVE = 0.1
METHODS: tuple[Method, Method] = ("monolithic", "decomposed")
AUTO_AND_DECOMPOSED: tuple[Method, Method] = ("auto", "decomposed")


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


@dataclass(frozen=True)
class BidAward:
    """A random fleet's bid (reserve 10 %) and an award within its offers."""

    fleet: Fleet
    firm_kw: np.ndarray
    offer_kw: np.ndarray
    award_kw: np.ndarray
    directions: list[Direction]

    @classmethod
    def draw(cls, n: int, horizon: int, seed: int, least_share: float) -> BidAward:
        rng = np.random.default_rng(seed)
        fleet = mixed_fleet(n, horizon, seed)
        inputs = BidInputs(
            fleet,
            random_products(horizon, seed),
            rng.uniform(100, 600, horizon),
            reserve_margin=RESERVE,
        )
        bid = build_bids(inputs)
        award = bid.pool_offer_kw * rng.uniform(least_share, 1, bid.pool_offer_kw.shape)
        return cls(fleet, bid.firm_kw, bid.offer_kw, award, [p.direction for p in inputs.products])

    def plan(self, method: Method) -> SetpointPlan:
        return plan_setpoints(
            self.fleet,
            self.firm_kw,
            self.award_kw,
            self.directions,
            offered_kw=self.offer_kw,
            reserve_margin=RESERVE,
            method=method,
        )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(3))
def test_any_award_within_the_bid_is_deliverable(seed: int, method: Method) -> None:
    """Awards up to the pool's offers split without shortfall: the robust box at work."""
    case = BidAward.draw(5, 10, seed, least_share=0.0)
    plan = case.plan(method)
    assert plan.shortfall_kw == pytest.approx(np.zeros_like(case.award_kw), abs=1e-5)
    assert plan.delivery_kw.sum(axis=0) == pytest.approx(case.award_kw, abs=1e-5)
    assert_within_limits(case.fleet.with_reserve(RESERVE), case.firm_kw, plan)


@pytest.mark.parametrize("seed", range(4))
def test_decomposition_matches_the_lp_within_the_bid(seed: int) -> None:
    """Awards within robust offers: the water-fill is the LP's optimum (same activation
    cost, same peak utilisation, nothing short) without solving it."""
    case = BidAward.draw(40, 24, seed, least_share=0.2)
    lp, split = (case.plan(method) for method in METHODS)
    assert split.status == lp.status == SolveStatus.OPTIMAL
    assert split.shortfall_kw.sum() == pytest.approx(0.0, abs=1e-6)
    assert split.activation_cost_cny == pytest.approx(lp.activation_cost_cny, rel=1e-6, abs=1e-6)
    assert split.utilisation == pytest.approx(lp.utilisation, abs=1e-6)
    assert_within_limits(case.fleet.with_reserve(RESERVE), case.firm_kw, split)


@pytest.mark.parametrize("seed", range(3))
def test_decomposition_keeps_every_limit_when_energy_binds(seed: int) -> None:
    """No offer caps and 80 % of the fleet's power asked for: energy and ramp limits bind,
    the repair keeps every asset within them, and the pool's shortfall stays small (the
    LP, free to shift effort across intervals, meets it all)."""
    horizon, n = 24, 40
    fleet = mixed_fleet(n, horizon, seed)
    award = np.zeros((2, horizon))
    award[0, 6:12] = fleet.hi_kw[:, 6:12].sum(axis=0) * 0.8
    award[1, 15:20] = -fleet.lo_kw[:, 15:20].sum(axis=0) * 0.8
    firm = np.zeros((n, horizon))
    plan = plan_setpoints(fleet, firm, award, [UP, DOWN], method="decomposed")
    assert plan.status == SolveStatus.OPTIMAL
    assert_within_limits(fleet, firm, plan)
    assert plan.delivery_kw.sum(axis=0) + plan.shortfall_kw == pytest.approx(award, abs=1e-6)
    assert plan.shortfall_kw.sum() <= 0.05 * award.sum()
    # Something did bind: the water-fill alone would have broken a limit.
    assert plan.shortfall_kw.sum() > 0.0


def test_auto_decomposes_large_fleets() -> None:
    """Above MONOLITHIC_MAX_VARIABLES deliveries "auto" is the decomposition: the same plan."""
    n = MONOLITHIC_MAX_VARIABLES // 4 + 1
    fleet = battery_fleet(n, 4)
    award = np.array([[0.0, 6.0 * n, 6.0 * n, 0.0]])
    auto, split = (
        plan_setpoints(fleet, np.zeros((n, 4)), award, [DOWN], method=method)
        for method in AUTO_AND_DECOMPOSED
    )
    assert auto.setpoint_kw == pytest.approx(split.setpoint_kw)
    assert auto.setpoint_kw[:, 1] == pytest.approx(np.full(n, -6.0))
    assert auto.utilisation[1] == pytest.approx(0.6)


def assert_within_limits(fleet: Fleet, firm: np.ndarray, plan: SetpointPlan) -> None:
    """Every asset's setpoints keep its power, energy and ramp limits (or the firm
    schedule's own value where that already breaks one, as the LP relaxes them)."""
    tol = 1e-5
    p = plan.setpoint_kw
    assert (p <= np.maximum(fleet.hi_kw, firm) + tol).all()
    assert (p >= np.minimum(fleet.lo_kw, firm) - tol).all()
    for i in np.flatnonzero(fleet.energy_limited):
        e = e_firm = fleet.e_initial_kwh[i]
        for t in range(p.shape[1]):
            scale = fleet.efficiency[i] * fleet.interval_hours
            e = fleet.retention[i] * e + scale * p[i, t]
            e_firm = fleet.retention[i] * e_firm + scale * firm[i, t]
            assert (
                min(fleet.e_min_kwh[i], e_firm) - tol <= e <= max(fleet.e_max_kwh[i], e_firm) + tol
            )
    for i in np.flatnonzero(fleet.ramp_limited):
        step, firm_step = np.diff(p[i]), np.diff(firm[i])
        assert (step <= np.maximum(fleet.ramp_kw[i], firm_step) + tol).all()
        assert (step >= np.minimum(-fleet.ramp_kw[i], firm_step) - tol).all()


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
