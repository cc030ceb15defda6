"""Pool rules as round-down post-processing: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimize.conftest import limits
from vpp.domain.units import Direction
from vpp.optimize.pool import (
    minimum_offer_kw,
    pool_targets,
    round_down,
    short_runs,
    trim_to_totals,
)


def test_short_runs() -> None:
    offered = np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)
    assert short_runs(offered, 3).tolist() == [1, 1, 0, 0, 0, 0, 0, 1]
    assert not short_runs(offered, 1).any()


def test_round_down_forgives_lp_noise() -> None:
    assert round_down(np.array([299.99999, 250.0, 99.0]), 100.0).tolist() == [300.0, 200.0, 0.0]


def test_minimum_is_a_step_multiple() -> None:
    rules = limits(Direction.UP, 4, min_quantity=1050.0, step=100.0)
    assert minimum_offer_kw(rules) == 1100.0


def test_pool_targets_round_cap_minimum_and_duration() -> None:
    rules = limits(Direction.DOWN, 8, min_quantity=1000.0, step=100.0, duration=2)
    total = np.array([950.0, 1250.0, 1990.0, 5000.0, 1200.0, 0.0, 3000.0, 3000.0])
    cap = np.array([np.inf, np.inf, np.inf, 2500.0, np.inf, np.inf, 900.0, np.inf])
    # 950 < min; 1250 -> 1200, 1990 -> 1900, capped 2500, 1200; then a lone 3000 (after the
    # 900 cap drops interval 6 below the minimum) is a run of 1 < 2 -> dropped
    assert pool_targets(total, cap, rules).tolist() == [0, 1200, 1900, 2500, 1200, 0, 0, 0]


def test_trim_keeps_the_best_merit_first() -> None:
    offer = np.array([[10.0, 5.0], [10.0, 5.0], [10.0, 5.0]])
    merit = np.array([[1.0, 3.0], [3.0, 2.0], [2.0, 1.0]])
    kept = trim_to_totals(offer, merit, np.array([15.0, 15.0]))
    assert kept[:, 0].tolist() == [0.0, 10.0, 5.0]
    assert kept[:, 1].tolist() == [5.0, 5.0, 5.0]
    assert kept.sum(axis=0) == pytest.approx([15.0, 15.0])
