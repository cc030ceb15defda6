"""The generalised battery: validation, rated and sustainable flexibility; unit helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vpp.domain.errors import InvalidParameterError
from vpp.domain.flexibility import GeneralisedBattery
from vpp.domain.units import Direction, cny_from_price, kwh_from_kw, split_flexibility


def _battery(**overrides: float | None) -> GeneralisedBattery:
    params: dict[str, float | None] = {
        "baseline_kw": 0.0,
        "p_min_kw": -500.0,
        "p_max_kw": 500.0,
        "e_min_kwh": 100.0,
        "e_max_kwh": 900.0,
        "e_initial_kwh": 500.0,
        "efficiency": 0.8,
    }
    return GeneralisedBattery(**{**params, **overrides})  # type: ignore[arg-type]


def test_defaults_mean_no_energy_coupling() -> None:
    flex = GeneralisedBattery(baseline_kw=10, p_min_kw=-10, p_max_kw=20)
    assert (flex.e_min_kwh, flex.e_initial_kwh, flex.e_max_kwh) == (-math.inf, 0.0, math.inf)
    assert (flex.retention_per_interval, flex.efficiency, flex.ramp_kw_per_interval) == (
        1.0,
        1.0,
        None,
    )
    assert (flex.up_kw, flex.down_kw) == (20.0, 10.0)
    assert flex.sustainable_kw(Direction.UP, 24) == 20.0
    assert flex.sustainable_kw(Direction.DOWN, 24) == 10.0


@pytest.mark.parametrize(
    ("direction", "hours", "expected_kw"),
    [
        (Direction.UP, 4.0, 125.0),  # 400 kWh of room / (0.8 × 4 h)
        (Direction.UP, 0.5, 500.0),  # energy allows 1000 kW, rated 500
        (Direction.DOWN, 4.0, 100.0),  # 400 kWh stored above e_min / 4 h
        (Direction.DOWN, 0.5, 500.0),
    ],
)
def test_sustainable_kw(direction: Direction, hours: float, expected_kw: float) -> None:
    assert _battery().sustainable_kw(direction, hours) == pytest.approx(expected_kw)


def test_wrong_side_bounds_offer_nothing() -> None:
    must_run = _battery(p_min_kw=50.0, p_max_kw=200.0)  # must charge at least 50 kW
    assert (must_run.up_kw, must_run.down_kw) == (200.0, 0.0)
    assert must_run.sustainable_kw(Direction.DOWN, 1) == 0.0
    full = _battery(e_initial_kwh=900.0)
    assert full.sustainable_kw(Direction.UP, 1) == 0.0


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"p_min_kw": 600.0}, "p_min_kw", "power_order"),
        ({"p_max_kw": math.inf}, "p_max_kw", "finite"),
        ({"baseline_kw": math.nan}, "baseline_kw", "finite"),
        ({"e_min_kwh": 1000.0}, "e_min_kwh", "energy_order"),
        ({"e_initial_kwh": 50.0}, "e_initial_kwh", "energy_order"),
        ({"e_initial_kwh": math.inf, "e_max_kwh": math.inf}, "e_initial_kwh", "finite"),
        ({"e_max_kwh": math.nan}, "e_max_kwh", "finite"),
        ({"efficiency": 0.0}, "efficiency", "efficiency_range"),
        ({"efficiency": 1.5}, "efficiency", "efficiency_range"),
        ({"retention_per_interval": 0.0}, "retention_per_interval", "retention_range"),
        ({"ramp_kw_per_interval": 0.0}, "ramp_kw_per_interval", "positive"),
    ],
)
def test_invalid_batteries(overrides: dict[str, float], field: str, rule: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        _battery(**overrides)
    assert (info.value.field, info.value.rule) == (field, rule)
    assert str(info.value).startswith(f"{field} ")


def test_error_text() -> None:
    with pytest.raises(InvalidParameterError) as info:
        _battery(p_min_kw=600.0)
    assert str(info.value) == "p_min_kw must not exceed p_max_kw (rule: power_order)"
    assert info.value.message == "p_min_kw must not exceed p_max_kw"


@pytest.mark.parametrize("hours", [0.0, -1.0, math.nan])
def test_sustainable_kw_needs_positive_hours(hours: float) -> None:
    with pytest.raises(InvalidParameterError, match=r"^hours "):
        _battery().sustainable_kw(Direction.UP, hours)


def test_unit_helpers() -> None:
    assert kwh_from_kw(400.0, 0.25) == 100.0
    assert cny_from_price(250.0, 400.0) == 100.0  # 0.25 MWh × 400 CNY/MWh
    assert split_flexibility(-30.0, 20.0) == (20.0, 30.0)
    assert split_flexibility(10.0, -5.0) == (0.0, 0.0)
    up, down = split_flexibility(np.array([-30.0, 10.0]), np.array([20.0, -5.0]))
    np.testing.assert_array_equal(up, [20.0, 0.0])
    np.testing.assert_array_equal(down, [30.0, 0.0])
    np.testing.assert_array_equal(cny_from_price(np.array([1000.0]), 350.0), [350.0])
