"""Fleet arrays: building from generalised batteries, validation, reserve margins."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.optimize.conftest import battery_fleet
from vpp.domain import BatteryParams, CurtailableLoadParams
from vpp.optimize.fleet import Fleet


def test_from_batteries_uses_each_model() -> None:
    battery = BatteryParams(
        capacity_kwh=200, charge_power_kw=100, discharge_power_kw=80, ramp_kw_per_min=2.0
    ).to_flexibility()
    load = CurtailableLoadParams(nominal_kw=50, min_kw=20).to_flexibility()
    fleet = Fleet.from_batteries(
        ["b", "l"], [battery, load], horizon=3, activation_cost_cny_per_mwh=7
    )
    assert fleet.lo_kw.tolist() == [[-80.0] * 3, [-30.0] * 3]
    assert fleet.hi_kw.tolist() == [[100.0] * 3, [0.0] * 3]
    assert fleet.ramp_kw.tolist() == [30.0, math.inf]
    assert fleet.energy_limited.tolist() == [True, False]
    assert fleet.activation_cost_cny_per_mwh.tolist() == [7.0, 7.0]
    assert fleet.take([1]).asset_ids == ("l",)


def test_reserve_shrinks_towards_baseline_and_initial_energy() -> None:
    fleet = battery_fleet(power_kw=10.0, e_max_kwh=20.0, e_initial_kwh=5.0)
    reserved = fleet.with_reserve(0.2)
    assert reserved.lo_kw[0, 0] == pytest.approx(-8.0)
    assert reserved.hi_kw[0, 0] == pytest.approx(8.0)
    assert reserved.e_min_kwh[0] == pytest.approx(1.0)
    assert reserved.e_max_kwh[0] == pytest.approx(17.0)
    assert fleet.with_reserve(0.0) is fleet


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lo_kw": np.full((1, 4), 11.0)}, "lo_kw must not exceed"),
        ({"e_initial_kwh": 30.0}, "e_initial_kwh"),
        ({"retention": 0.0}, "retention"),
        ({"ramp_kw": 0.0}, "ramp_kw"),
        ({"asset_ids": ("a", "b")}, "shape"),
    ],
)
def test_invalid_fleets_are_refused(change: dict[str, Any], message: str) -> None:
    values = {**battery_fleet().__dict__, **change}
    with pytest.raises(ValueError, match=message):
        Fleet(**values)
