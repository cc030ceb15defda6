"""split_award: the per-interval disaggregation LP in closed form, checked against HiGHS."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.domain.units import Direction
from vpp.optimize.disaggregation import plan_setpoints
from vpp.optimize.fleet import Fleet
from vpp.optimize.waterfill import split_award


def free_fleet(hi: np.ndarray, cost_cny_per_mwh: np.ndarray) -> Fleet:
    """Assets with power bounds only: the disaggregation LP separates by interval."""
    n, horizon = hi.shape
    return Fleet(
        tuple(f"a{i}" for i in range(n)),
        lo_kw=np.zeros((n, horizon)),
        hi_kw=hi,
        e_min_kwh=np.full(n, -np.inf),
        e_max_kwh=np.full(n, np.inf),
        e_initial_kwh=np.zeros(n),
        retention=np.ones(n),
        efficiency=np.ones(n),
        ramp_kw=np.full(n, np.inf),
        activation_cost_cny_per_mwh=cost_cny_per_mwh,
    )


@pytest.mark.parametrize("fairness", [0.0, 10.0, 400.0])
@pytest.mark.parametrize("seed", range(4))
def test_the_split_is_the_lp_optimum(seed: int, fairness: float) -> None:
    """Random costs (a few tied), caps and awards, some beyond the fleet: the closed form
    reaches the LP's objective, every interval at once."""
    rng = np.random.default_rng(seed)
    n, horizon = 12, 8
    hi = rng.uniform(0, 50, (n, horizon))
    cost = rng.choice([0.0, 20.0, 35.0, 80.0, 150.0], n)
    offered = np.where(
        rng.random((n, 1, horizon)) < 0.3, rng.uniform(0, 30, (n, 1, horizon)), hi[:, None]
    )
    award = hi.sum(axis=0)[None] * rng.uniform(0.1, 1.2, (1, horizon))
    lp = plan_setpoints(
        free_fleet(hi, cost), np.zeros((n, horizon)), award, [Direction.UP],
        offered_kw=offered, fairness_cny_per_mwh=fairness, method="monolithic",
    )  # fmt: skip
    per_kw = 0.25 / 1000
    split = split_award(
        award[0], offered[:, 0], hi, np.zeros((n, horizon)), cost * per_kw,
        fairness * per_kw * award[0], 1e5 * per_kw,
    )  # fmt: skip

    def objective(delivery: np.ndarray, shortfall: np.ndarray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            peak = np.where(hi > 0, delivery / hi, 0.0).max(axis=0)
        return float(
            (cost[:, None] * delivery).sum() * per_kw
            + fairness * per_kw * (award[0] * peak).sum()
            + 1e5 * per_kw * shortfall.sum()
        )

    assert (split.delivery_kw <= np.minimum(offered[:, 0], hi) + 1e-9).all()
    assert split.delivery_kw.sum(axis=0) + split.shortfall_kw == pytest.approx(award[0])
    assert split.shortfall_kw == pytest.approx(lp.shortfall_kw[0], abs=1e-6)
    assert objective(split.delivery_kw, split.shortfall_kw) == pytest.approx(
        objective(lp.delivery_kw[:, 0], lp.shortfall_kw[0]), rel=1e-7, abs=1e-9
    )


def test_headroom_given_to_another_product_is_not_given_twice() -> None:
    """Two 10 kW assets, one already 8 kW up for another product: the peak share is 0.8
    whatever happens, and within it only the other asset has room, so it takes all 6 kW."""
    split = split_award(
        np.array([6.0]), np.full((2, 1), np.inf), np.full((2, 1), 10.0),
        np.array([[8.0], [0.0]]), np.zeros(2), np.array([1.0]), 1e3,
    )  # fmt: skip
    assert split.delivery_kw[:, 0] == pytest.approx([0.0, 6.0])
    assert split.shortfall_kw == pytest.approx([0.0])


def test_nothing_to_split() -> None:
    split = split_award(
        np.array([0.0, 5.0]), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)),
        np.zeros(0), np.ones(2), 1e3,
    )  # fmt: skip
    assert split.delivery_kw.shape == (0, 2)
    assert split.shortfall_kw == pytest.approx([0.0, 5.0])
