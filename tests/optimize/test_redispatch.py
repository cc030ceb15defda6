"""Intraday re-dispatch on tiny fleets with hand-computed answers."""

from __future__ import annotations

import numpy as np

from tests.optimize.conftest import battery_fleet
from vpp.optimize.fleet import Fleet
from vpp.optimize.redispatch import DOWN, UP, rebalance_interval, replan_fleet


def test_a_deficit_takes_the_same_share_of_every_headroom() -> None:
    # Headroom up: 10 and 30 kW; 20 kW needed -> half of each.
    step = rebalance_interval(
        np.zeros(2), np.zeros(2), np.full(2, -10.0), np.array([10.0, 30.0]),
        np.array([20.0, 0.0]), np.ones(2, dtype=bool),
    )  # fmt: skip
    assert step.deviation_kw.tolist() == [5.0, 15.0]
    assert step.shortfall_kw.tolist() == [0.0, 0.0]


def test_a_fixed_asset_counts_with_what_it_does_and_the_rest_is_short() -> None:
    # Asset 0 is planned at -8 but measured at -2 (lagging, not movable); asset 1 can give
    # at most 4 more: 10 down needed, 2 + 4 + 0 = 6 delivered... asset 1 starts at 0.
    step = rebalance_interval(
        np.array([-8.0, 0.0]), np.zeros(2), np.full(2, -4.0), np.full(2, 4.0),
        np.array([0.0, 10.0]), np.array([False, True]), np.array([-2.0, 0.0]),
    )  # fmt: skip
    assert step.deviation_kw.tolist() == [-8.0, -4.0]
    assert step.delivered_kw.tolist() == [0.0, 6.0]
    assert step.shortfall_kw.tolist() == [0.0, 4.0]


def test_replan_spares_stored_energy_for_the_target_still_to_come() -> None:
    # A battery (10 kW, 5 kWh above e_min) and an asset without energy limit (10 kW) share
    # 10 kW down over 4 intervals. In the first the battery offers only a quarter of its
    # energy room (10 of the 40 kW-intervals to come): 5 kWh / 0.25 h = 20 kW -> 5 kW; the
    # 10 kW are split 5 : 10 -> -10/3 and -20/3, leaving it energy for later.
    fleet = Fleet(
        ("battery", "load"),
        lo_kw=np.full((2, 4), -10.0),
        hi_kw=np.full((2, 4), 10.0),
        e_min_kwh=np.array([0.0, -np.inf]),
        e_max_kwh=np.array([20.0, np.inf]),
        e_initial_kwh=np.array([5.0, 0.0]),
        retention=np.ones(2),
        efficiency=np.ones(2),
        ramp_kw=np.full(2, np.inf),
        activation_cost_cny_per_mwh=np.zeros(2),
    )
    target = np.zeros((2, 4))
    target[DOWN] = 10.0
    plan = replan_fleet(fleet, np.zeros((2, 4)), np.zeros((2, 4)), target, np.ones(2, bool))
    assert np.allclose(plan.deviation_kw[:, 0], [-10 / 3, -20 / 3])
    assert np.allclose(plan.shortfall_kw, 0.0)
    # Energy stays within bounds: the battery never gives more than its 5 kWh.
    assert -plan.deviation_kw[0].sum() * 0.25 <= 5.0 + 1e-9


def test_offline_assets_return_to_baseline_and_others_take_their_share() -> None:
    fleet = battery_fleet(2, 2, power_kw=10.0, e_max_kwh=100.0, e_initial_kwh=50.0)
    target = np.zeros((2, 2))
    target[UP] = 12.0
    planned = np.full((2, 2), 6.0)
    plan = replan_fleet(
        fleet, np.zeros((2, 2)), planned, target, np.array([True, False]), np.array([6.0, 6.0])
    )
    assert np.allclose(plan.deviation_kw, [[10.0, 10.0], [0.0, 0.0]])
    assert np.allclose(plan.shortfall_kw[UP], [2.0, 2.0])
