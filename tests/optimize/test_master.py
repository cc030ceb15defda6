"""Dantzig-Wolfe price rounds on the pool caps, and the solver pieces they rely on."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from tests.optimize.conftest import battery_fleet, limits, mixed_fleet, random_products
from vpp.domain.units import Direction
from vpp.optimize import bidding
from vpp.optimize.bidding import BidInputs, ProductInput, build_bids, decomposition_gap
from vpp.optimize.master import (
    UNSCALED_FROM_ASSETS,
    Master,
    Proposals,
    contested_columns,
    solve_master,
)
from vpp.optimize.problem import GrowingLp, Problem, SolverOptions, solve, solve_separable

CONVERGED_GAP = 1e-6
"""Stated tolerance of the price rounds run to convergence against the monolithic LP."""


def _capped_inputs(seed: int, n: int = 12, horizon: int = 12) -> BidInputs:
    """A mixed fleet whose pool caps (40 kW every other interval) bind; no pool rules, so
    the monolithic problem is the LP with caps."""
    fleet = mixed_fleet(n, horizon, seed)
    energy = np.random.default_rng(seed).uniform(100, 700, horizon)
    products = tuple(
        replace(p, pool_cap_kw=np.where(np.arange(horizon) % 2 == 0, 40.0, math.inf))
        for p in random_products(horizon, seed)
    )
    return BidInputs(fleet, products, energy)


@pytest.mark.parametrize("seed", range(5))
def test_price_rounds_converge_to_the_monolithic_lp(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-planning every asset each round (full Dantzig-Wolfe), from the prices of a
    4-asset sample, the decomposition reaches the LP optimum."""
    monkeypatch.setattr(bidding, "PRICE_ROUND_SHARE", 1.0)
    inputs = _capped_inputs(seed)
    mono = build_bids(inputs, method="monolithic")
    dec = build_bids(inputs, price_sample=4, price_rounds=60)
    assert abs(decomposition_gap(mono, dec)) <= CONVERGED_GAP
    assert (dec.pool_offer_kw <= inputs.pool_caps_kw + 1e-6).all()


@pytest.mark.parametrize("seed", range(3))
def test_price_rounds_improve_on_proportional_sharing(seed: int) -> None:
    inputs = _capped_inputs(seed, n=30)
    mono = build_bids(inputs, method="monolithic")
    shared = build_bids(inputs, price_sample=6, price_rounds=0)
    priced = build_bids(inputs, price_sample=6)
    assert priced.objective_cny >= shared.objective_cny - 1e-9
    assert decomposition_gap(mono, priced) <= 0.01
    assert priced.rounds >= 1


def test_the_master_splits_a_contested_interval_exactly() -> None:
    """Two identical batteries, one interval capped at 15 kW where each would offer 20:
    any vertex gives one asset all or nothing; the master mixes to exactly 15 kW."""
    horizon = 2
    fleet = battery_fleet(2, horizon, e_max_kwh=100.0, e_initial_kwh=50.0)
    cut = ProductInput(
        "peak_cut",
        limits(Direction.DOWN, horizon),
        np.full(horizon, 400.0),
        np.array([15.0, math.inf]),
    )
    plan = build_bids(BidInputs(fleet, (cut,), np.zeros(horizon)), price_sample=0)
    assert plan.pool_offer_kw[0, 0] == pytest.approx(15.0, abs=1e-6)
    assert plan.pool_offer_kw[0, 1] == pytest.approx(40.0, abs=1e-6)
    # 15 kW x 0.25 h at 400 + 40 kW x 0.25 h at 400 CNY/MWh
    assert plan.objective_cny == pytest.approx((15.0 + 40.0) * 0.25 * 0.4)


def test_master_mix_keeps_caps_and_prices_the_binding_one() -> None:
    value = np.full((2, 1, 2), 0.1)  # CNY per kW-interval
    firm_cost = np.zeros(2)
    caps = np.array([[15.0, 100.0]])
    contested = contested_columns(np.full((2, 2), -20.0), np.full((2, 2), 20.0), caps)
    assert contested.tolist() == [[True, False]]
    offer = np.full((2, 1, 2), 20.0)
    proposals = Proposals.start(value, firm_cost, contested, np.zeros((2, 2)), offer)
    result = solve_master(proposals, caps, SolverOptions())
    assert result is not None
    assert result.offer_kw[:, 0, 0].sum() == pytest.approx(15.0)
    assert result.offer_kw[:, 0, 1] == pytest.approx([20.0, 20.0])
    assert result.price_cny_per_kw[0, 0] == pytest.approx(0.1)
    assert result.price_cny_per_kw[0, 1] == 0.0
    assert result.objective_cny == pytest.approx(0.1 * (15.0 + 40.0))


def test_master_started_from_plans_within_the_caps_reaches_the_same_optimum() -> None:
    """Random plans for 40 assets, then the same plans trimmed to the caps: the master
    started from the trimmed batch (`Master(start_batch=...)`) ends where a master
    started from no plan ends."""
    rng = np.random.default_rng(3)
    n, k, t = 40, 2, 6
    value = rng.uniform(-0.05, 0.2, (n, k, t))
    firm_cost = rng.uniform(0.0, 0.1, t)
    caps = np.full((k, t), 150.0)
    lo, hi = np.full((n, t), -30.0), np.full((n, t), 30.0)
    contested = contested_columns(lo, hi, caps)
    offers = [rng.uniform(0, 20, (n, k, t)) for _ in range(3)]
    firms = [rng.uniform(-5, 5, (n, t)) for _ in range(3)]
    scale = np.minimum(1.0, caps / offers[0].sum(axis=0))  # (k, t): within every cap
    trimmed = offers[0] * scale[None]

    def master(start: int | None) -> float:
        proposals = Proposals.start(value, firm_cost, contested, firms[0], offers[0])
        proposals.add(np.arange(n), firms[0], trimmed)
        result = Master(proposals, caps, SolverOptions(), start_batch=start).solve()
        assert result is not None
        for firm, offer in zip(firms[1:], offers[1:], strict=True):
            proposals.add(np.arange(n), firm, offer)
            result = Master(proposals, caps, SolverOptions(), start_batch=start).solve()
            assert result is not None
        assert (result.offer_kw.sum(axis=0)[contested] <= caps[contested] + 1e-6).all()
        return result.objective_cny

    assert master(1) == pytest.approx(master(None), rel=1e-9)
    with pytest.raises(ValueError, match="one plan per asset"):
        Proposals.start(value, firm_cost, contested, firms[0], offers[0]).add(
            np.zeros(2, np.int64), firms[0][:2], offers[0][:2]
        )


def test_master_gives_a_repeated_plan_no_column_of_its_own() -> None:
    """A plan that repeats an asset's contested offers for no more profit adds no column
    (the start batch may name such plans); the same contested offers for more profit do."""
    value = np.full((2, 1, 2), 0.1)  # CNY per kW-interval; interval 0 capped at 15 kW
    caps = np.array([[15.0, 100.0]])
    contested = contested_columns(np.full((2, 2), -20.0), np.full((2, 2), 20.0), caps)
    firm, offer = np.zeros((2, 2)), np.full((2, 1, 2), 20.0)
    trimmed = offer.copy()
    trimmed[:, 0, 0] = 7.5  # within the cap together
    proposals = Proposals.start(value, np.zeros(2), contested, firm, offer)
    proposals.add(np.arange(2), firm, trimmed)
    proposals.add(np.arange(2), firm, offer)  # the first plans again
    master = Master(proposals, caps, SolverOptions(), start_batch=2)
    result = master.solve()
    assert result is not None
    assert master.lp.num_cols == 4
    assert result.objective_cny == pytest.approx(0.1 * (15.0 + 40.0))
    richer = np.array([[[20.0, 25.0]]])  # asset 0: 5 kW more where nothing is capped
    poorer = np.array([[[20.0, 15.0]]])  # asset 1: 5 kW less
    proposals.add(np.array([0]), firm[:1], richer)
    proposals.add(np.array([1]), firm[1:], poorer)
    again = master.solve()
    assert again is not None
    assert master.lp.num_cols == 5
    # the cap's 15 kW go to asset 0's richer plan at weight 0.75: 5 kW x 0.75 more
    assert again.objective_cny == pytest.approx(0.1 * (15.0 + 40.0 + 0.75 * 5.0))
    assert again.offer_kw[:, 0, 0].sum() == pytest.approx(15.0)


def test_an_asset_without_contested_offers_stays_outside_the_master_lp() -> None:
    """Asset 2 offers only where nothing is capped: no column, its best plan taken whole;
    once it proposes into the capped interval, that plan and its best one join the LP."""
    value = np.full((3, 1, 2), 0.1)
    caps = np.array([[15.0, math.inf]])
    contested = contested_columns(np.full((3, 2), -20.0), np.full((3, 2), 20.0), caps)
    assert contested.tolist() == [[True, False]]
    firm = np.zeros((3, 2))
    offer = np.array([[[20.0, 20.0]], [[20.0, 20.0]], [[0.0, 20.0]]])
    proposals = Proposals.start(value, np.zeros(2), contested, firm, offer)
    master = Master(proposals, caps, SolverOptions())
    first = master.solve()
    assert first is not None
    assert master.lp.num_cols == 2
    assert first.objective_cny == pytest.approx(0.1 * (60.0 + 15.0))
    proposals.add(np.array([2]), firm[2:], np.array([[[0.0, 25.0]]]))
    better = master.solve()
    assert better is not None
    assert master.lp.num_cols == 2
    assert better.offer_kw[2, 0] == pytest.approx([0.0, 25.0])
    assert better.objective_cny == pytest.approx(first.objective_cny + 0.1 * 5.0)
    proposals.add(np.array([2]), firm[2:], np.array([[[10.0, 25.0]]]))
    joined = master.solve()
    assert joined is not None
    assert master.lp.num_cols == 4
    assert joined.offer_kw[2, 0, 1] == pytest.approx(25.0)
    assert joined.offer_kw[:, 0, 0].sum() == pytest.approx(15.0)
    assert joined.objective_cny == pytest.approx(better.objective_cny)


@pytest.mark.parametrize(("backend", "scaled"), [("scipy", False), ("auto", False), ("auto", True)])
def test_growing_lp_matches_a_cold_solve(backend: str, scaled: bool) -> None:
    """max x0 + 2·x1 + 3·x2 s.t. x0 + x1 + x2 <= 2, x <= 1, columns added in two batches."""
    options = SolverOptions(backend="scipy" if backend == "scipy" else "auto")
    lp = GrowingLp(np.array([-np.inf]), np.array([2.0]), options, scaled=scaled)
    if lp._highs is not None:  # HiGHS's own scaling is off for rows the caller scaled
        _, strategy = lp._highs.getOptionValue("simplex_scale_strategy")
        assert (strategy == 0) == scaled
    lp.add_columns(np.array([-1.0, -2.0]), np.ones(2), sp.csc_array(np.ones((1, 2))))
    status, x, duals, objective = lp.solve()
    assert status.has_solution
    assert objective == pytest.approx(-3.0)
    lp.add_columns(np.array([-3.0]), np.ones(1), sp.csc_array(np.ones((1, 1))))
    status, x, duals, objective = lp.solve()
    assert objective == pytest.approx(-5.0)
    assert x == pytest.approx([0.0, 1.0, 1.0])
    # one more unit of the row lets x0 in: the objective falls by 1
    assert duals == pytest.approx([-1.0])


def test_growing_lp_solves_afresh_when_a_warm_resolve_stalls() -> None:
    """A re-solve that reaches the iteration limit (here: any pivot at all) is solved
    again from scratch, with the same optimum and duals as the warm path gives."""
    options = SolverOptions(backend="highspy")
    lp = GrowingLp(np.array([-np.inf]), np.array([2.0]), options, warm_iteration_limit=0)
    lp.add_columns(np.array([-1.0, -2.0]), np.ones(2), sp.csc_array(np.ones((1, 2))))
    assert lp.solve()[3] == pytest.approx(-3.0)
    restarts = lp.cold_restarts
    lp.add_columns(np.array([-3.0]), np.ones(1), sp.csc_array(np.ones((1, 1))))
    status, x, duals, objective = lp.solve()
    assert lp.cold_restarts == restarts + 1
    assert status.has_solution
    assert objective == pytest.approx(-5.0)
    assert x == pytest.approx([0.0, 1.0, 1.0])
    assert duals == pytest.approx([-1.0])


def _box_lp(cost: float) -> Problem:
    problem = Problem()
    x = problem.add_variables("x", (2,), upper=3.0, cost=[cost, -1.0], group=0)
    problem.add_constraints("sum", [(x, sp.csr_array(np.ones((1, 2))))], upper=4.0, group=0)
    return problem


def test_set_bounds_reuses_a_built_problem() -> None:
    problem = _box_lp(-2.0)
    assert solve(problem, SolverOptions()).objective == pytest.approx(-7.0)
    problem.set_bounds("x", upper=[1.0, 3.0])
    assert solve(problem, SolverOptions()).objective == pytest.approx(-5.0)


@pytest.mark.skipif(importlib.util.find_spec("highspy") is None, reason="highspy not installed")
def test_named_groups_warm_start_from_their_own_basis() -> None:
    options = SolverOptions(backend="highspy")
    first = solve_separable(_box_lp(-2.0), options, keys=["asset"])
    again = solve_separable(_box_lp(-0.5), options, keys=["asset"])
    assert first.objective == pytest.approx(-7.0)
    assert again.objective == pytest.approx(-3.0 - 0.5)
    assert again.value("x") == pytest.approx([1.0, 3.0])


@pytest.mark.parametrize("assets", [8, UNSCALED_FROM_ASSETS])
def test_a_large_master_is_solved_without_highs_scaling(assets: int) -> None:
    """Its cap rows are written as shares of their caps already; HiGHS's scaling on top
    made late warm re-solves of 10,000-asset masters wander (`Master`)."""
    value = np.full((assets, 1, 2), 0.1)
    caps = np.array([[assets * 10.0, math.inf]])
    contested = contested_columns(np.full((assets, 2), -20.0), np.full((assets, 2), 20.0), caps)
    offer = np.full((assets, 1, 2), 20.0)
    proposals = Proposals.start(value, np.zeros(2), contested, np.zeros((assets, 2)), offer)
    master = Master(proposals, caps, SolverOptions())
    assert master.lp.scaled == (assets >= UNSCALED_FROM_ASSETS)
    result = master.solve()
    assert result is not None
    assert result.offer_kw[:, 0, 0].sum() == pytest.approx(assets * 10.0)
