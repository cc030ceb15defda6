"""The robust offer box: any accepted share of any offer keeps every asset within its limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.optimize.conftest import limits
from vpp.domain.units import Direction
from vpp.optimize import blocks
from vpp.optimize.bidding import BidInputs, ProductInput, build_bids
from vpp.optimize.blocks import solve_offer_block
from vpp.optimize.fleet import Fleet
from vpp.optimize.offers import OfferModel, build_offer_problem, solve_unconstrained
from vpp.optimize.problem import SolverOptions, SolveStatus, solve_separable

HORIZON = 6
TOL = 1e-5


def random_fleet(rng: np.random.Generator, n: int) -> Fleet:
    e_max = rng.uniform(2, 40, n)
    e_min = np.where(rng.random(n) < 0.7, rng.uniform(-10, 0, n), -np.inf)
    e_max = np.where(rng.random(n) < 0.7, e_max, np.inf)
    lo_finite = np.where(np.isfinite(e_min), e_min, -10.0)
    hi_finite = np.where(np.isfinite(e_max), e_max, 10.0)
    e0 = lo_finite + rng.uniform(0.1, 0.9, n) * (hi_finite - lo_finite)
    return Fleet(
        tuple(f"a{i}" for i in range(n)),
        lo_kw=-rng.uniform(0, 25, (n, HORIZON)),
        hi_kw=rng.uniform(0, 25, (n, HORIZON)),
        e_min_kwh=e_min,
        e_max_kwh=e_max,
        e_initial_kwh=e0,
        retention=rng.uniform(0.95, 1.0, n),
        efficiency=rng.uniform(0.8, 1.0, n),
        ramp_kw=np.where(rng.random(n) < 0.5, rng.uniform(5, 30, n), np.inf),
        activation_cost_cny_per_mwh=rng.uniform(0, 200, n),
    )


def energy_path(fleet: Fleet, power_kw: np.ndarray) -> np.ndarray:
    state = fleet.e_initial_kwh.copy()
    path = np.empty_like(power_kw)
    for t in range(power_kw.shape[1]):
        state = fleet.retention * state + fleet.efficiency * fleet.interval_hours * power_kw[:, t]
        path[:, t] = state
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3),
    margin=st.sampled_from([0.0, 0.2]),
    two_up=st.booleans(),
)
def test_any_accepted_share_respects_every_limit(
    seed: int, n: int, margin: float, two_up: bool
) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n)
    products = [
        ProductInput("up", limits(Direction.UP, HORIZON), rng.uniform(0, 800, HORIZON)),
        ProductInput("down", limits(Direction.DOWN, HORIZON), rng.uniform(0, 800, HORIZON)),
    ]
    if two_up:
        products.append(
            ProductInput("up2", limits(Direction.UP, HORIZON), rng.uniform(0, 800, HORIZON))
        )
    inputs = BidInputs(fleet, tuple(products), rng.uniform(0, 500, HORIZON), reserve_margin=margin)
    plan = build_bids(inputs)
    ok = np.array([s == SolveStatus.OPTIMAL for s in plan.asset_status])
    reserved = fleet.with_reserve(margin)
    sign = inputs.direction_signs.astype(np.float64)
    shape = plan.offer_kw.shape
    fractions: list[np.ndarray] = [rng.uniform(0, 1, shape) for _ in range(20)]
    fractions += [np.zeros(shape), np.ones(shape)]
    # the two worst cases: every up offer accepted and no down, and the reverse
    fractions += [np.broadcast_to((sign > 0)[None, :, None], shape) * 1.0]
    fractions += [np.broadcast_to((sign < 0)[None, :, None], shape) * 1.0]
    for accepted in fractions:
        p = plan.firm_kw + np.einsum("k,nkt->nt", sign, accepted * plan.offer_kw)
        p, sub = p[ok], reserved.take(np.flatnonzero(ok))
        assert (p >= sub.lo_kw - TOL).all()
        assert (p <= sub.hi_kw + TOL).all()
        path = energy_path(sub, p)
        assert (path >= sub.e_min_kwh[:, None] - TOL).all()
        assert (path <= sub.e_max_kwh[:, None] + TOL).all()
        assert (np.abs(np.diff(p, axis=1)) <= sub.ramp_kw[:, None] + TOL).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4))
def test_closed_form_matches_the_lp(seed: int, n: int) -> None:
    """Assets without energy or ramp limits: the closed form reaches the LP's optimum."""
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n)
    fleet = Fleet(
        **{
            **fleet.__dict__,
            "e_min_kwh": np.full(n, -np.inf),
            "e_max_kwh": np.full(n, np.inf),
            "ramp_kw": np.full(n, np.inf),
        }
    )
    k = 3
    model = OfferModel(
        fleet=fleet,
        direction=np.array([1, -1, 1]),
        value_cny_per_kw=rng.uniform(-0.05, 0.2, (n, k, HORIZON)),
        firm_cost_cny_per_kw=rng.uniform(-0.1, 0.1, HORIZON),
        offer_cap_kw=np.where(rng.random((n, k, HORIZON)) < 0.5, rng.uniform(0, 10), np.inf),
    )
    firm, offer = solve_unconstrained(model)
    closed = np.sum(model.value_cny_per_kw * offer) - np.sum(model.firm_cost_cny_per_kw * firm)
    lp = solve_separable(build_offer_problem(model), SolverOptions(backend="scipy"))
    assert closed == np.float64(closed)
    assert abs(closed + lp.objective) <= 1e-7 * max(1.0, abs(lp.objective))


def test_a_block_solved_in_slices_is_the_same_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """solve_offer_block builds and solves its per-asset LPs a slice at a time (memory):
    the plans are those of one slice over the whole block."""
    rng = np.random.default_rng(11)
    n, k = 9, 2
    model = OfferModel(
        fleet=random_fleet(rng, n),
        direction=np.array([1, -1]),
        value_cny_per_kw=rng.uniform(-0.05, 0.2, (n, k, HORIZON)),
        firm_cost_cny_per_kw=rng.uniform(-0.1, 0.1, HORIZON),
        offer_cap_kw=np.full((n, k, HORIZON), np.inf),
    )
    options = SolverOptions(backend="scipy")
    whole = solve_offer_block(model, options)
    solved: list[int] = []
    real = solve_separable

    def counting(problem: Any, *args: Any, **kwargs: Any) -> Any:
        solved.append(len(kwargs["keys"]))
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(blocks, "LP_SLICE_ASSETS", 2)
    monkeypatch.setattr(blocks, "solve_separable", counting)
    sliced = solve_offer_block(model, options)
    coupled = int((model.fleet.energy_limited | model.fleet.ramp_limited).sum())
    assert coupled > 2, "one slice only: the test proves nothing"
    assert solved == [2] * (coupled // 2) + ([coupled % 2] if coupled % 2 else [])
    assert sliced.status == whole.status
    np.testing.assert_allclose(sliced.firm_kw, whole.firm_kw, atol=1e-7)
    np.testing.assert_allclose(sliced.offer_kw, whole.offer_kw, atol=1e-7)
