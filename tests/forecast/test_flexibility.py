"""Flexibility envelopes honour energy coupling; the guaranteed box is always feasible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vpp.domain import (
    BatteryParams,
    CurtailableLoadParams,
    GeneralisedBattery,
    PvParams,
)
from vpp.forecast.flexibility import (
    deviation_bounds,
    envelope,
    pool_envelope,
    pooled_bands,
    pv_curtailment_bounds,
    robust_bounds,
    simulate_energy,
)

BATTERY = BatteryParams(capacity_kwh=100.0, charge_power_kw=50.0, discharge_power_kw=50.0)


def test_a_battery_cannot_sell_full_power_all_day() -> None:
    env = envelope(BATTERY.to_flexibility())
    # 40 kWh of room each way (50 % -> 90 % / 10 %), η = 0.9 on the state, 24 h.
    np.testing.assert_allclose(env.up_kw, 40.0 / (0.9 * 24.0))
    np.testing.assert_allclose(env.down_kw, 40.0 / (0.9 * 24.0))
    # One 1-hour call can use nearly the full power: min(50, 40 / 0.9).
    np.testing.assert_allclose(env.up_call_kw[:92], 40.0 / 0.9)
    assert env.idle_feasible


def test_energy_unbounded_assets_keep_their_power_bounds() -> None:
    pv = PvParams(peak_kw=100.0)
    gen = np.concatenate([np.zeros(30), np.full(36, 80.0), np.zeros(30)])
    env = envelope(pv.to_flexibility(), pv_curtailment_bounds(gen, pv.ac_capacity_kw))
    np.testing.assert_allclose(env.up_kw, gen)
    np.testing.assert_allclose(env.down_kw, 0.0)


def test_curtailable_load_around_a_forecast_baseline() -> None:
    load = CurtailableLoadParams(
        nominal_kw=500.0, min_kw=300.0, max_kw=600.0, max_curtailment_kwh_per_day=240.0
    ).to_flexibility()
    baseline = np.full(96, 450.0)
    env = envelope(load, deviation_bounds(load, baseline))
    np.testing.assert_allclose(env.up_kw, 150.0)  # up to max_kw, no energy bound
    np.testing.assert_allclose(env.down_kw, 10.0)  # 240 kWh over 24 h
    np.testing.assert_allclose(env.down_call_kw[:93], 150.0)  # 150 kW for 1 h fits


def test_ramp_limit_caps_the_box_at_half_the_ramp() -> None:
    ramped = BatteryParams(
        capacity_kwh=10_000.0, charge_power_kw=50.0, discharge_power_kw=50.0, ramp_kw_per_min=1.0
    ).to_flexibility()
    env = envelope(ramped)
    np.testing.assert_allclose(env.up_kw, 7.5)  # 15 kW per interval / 2


def test_pool_sums_envelopes() -> None:
    a = envelope(BATTERY.to_flexibility())
    pool = pool_envelope([a, a])
    np.testing.assert_allclose(pool.up_kw, 2 * a.up_kw)
    assert pool.assets == 2
    with pytest.raises(ValueError, match="no envelopes"):
        pool_envelope([])


@st.composite
def batteries(draw: st.DrawFn) -> GeneralisedBattery:
    capacity = draw(st.floats(1.0, 5_000.0))
    soc_min = draw(st.floats(0.0, 0.5))
    soc_max = draw(st.floats(soc_min, 1.0))
    soc_initial = draw(st.floats(soc_min, soc_max))
    ramp = draw(st.none() | st.floats(0.1, 100.0))
    return BatteryParams(
        capacity_kwh=capacity,
        charge_power_kw=draw(st.floats(0.0, 3 * capacity)),
        discharge_power_kw=draw(st.floats(0.0, 3 * capacity)),
        soc_min=soc_min,
        soc_max=soc_max,
        soc_initial=soc_initial,
        round_trip_efficiency=draw(st.floats(0.5, 1.0)),
        self_discharge_per_day=draw(st.floats(0.0, 0.05)),
        ramp_kw_per_min=ramp,
    ).to_flexibility()


@settings(max_examples=150, deadline=None)
@given(
    battery=batteries(),
    pattern=st.lists(st.floats(-1.0, 1.0), min_size=96, max_size=96),
    extreme=st.sampled_from(["up", "down", "mixed"]),
)
def test_flexibility_never_takes_the_soc_out_of_bounds(
    battery: GeneralisedBattery, pattern: list[float], extreme: str
) -> None:
    env = envelope(battery)
    assume(env.idle_feasible)
    mix = np.asarray(pattern)
    if extreme == "up":
        schedule = env.up_kw
    elif extreme == "down":
        schedule = -env.down_kw
    else:
        schedule = np.where(mix >= 0, mix * env.up_kw, mix * env.down_kw)
    energy = simulate_energy(battery, schedule)
    tol = 1e-6 * max(1.0, battery.e_max_kwh)
    assert energy.max() <= battery.e_max_kwh + tol
    assert energy.min() >= battery.e_min_kwh - tol
    if battery.ramp_kw_per_interval is not None:
        steps = np.abs(np.diff(np.concatenate([[0.0], schedule])))
        assert steps.max() <= battery.ramp_kw_per_interval + 1e-9
    assert np.all(env.up_kw >= 0) and np.all(env.down_kw >= 0)
    assert np.all(env.up_kw <= env.up_call_kw + 1e-9)


def test_robust_bounds_take_the_worse_quantile_per_direction() -> None:
    load = CurtailableLoadParams(nominal_kw=500.0, min_kw=300.0, max_kw=600.0).to_flexibility()
    p10, p90 = np.full(96, 400.0), np.full(96, 520.0)
    lo, hi = robust_bounds(load, p10, p90)
    np.testing.assert_allclose(lo, -100.0)  # can shed 400 - 300 even if the baseline is low
    np.testing.assert_allclose(hi, 80.0)  # can add 600 - 520 even if the baseline is high


def test_pooled_bands_shrink_independent_errors_and_keep_fully_correlated_ones() -> None:
    median = np.array([[100.0], [100.0], [100.0], [100.0]])
    low, high = median - 20.0, median + 10.0
    same_low, same_high = pooled_bands(median, low, high, correlation=1.0)
    assert np.allclose(same_low, low) and np.allclose(same_high, high)
    # Four equal independent errors: the pool's band is sqrt(4) = 2 bands wide, not 4.
    ind_low, ind_high = pooled_bands(median, low, high, correlation=0.0)
    assert np.allclose(ind_low, 100.0 - 10.0) and np.allclose(ind_high, 100.0 + 5.0)
    half_low, _ = pooled_bands(median, low, high, correlation=0.5)
    # sqrt(0.5 * 4 * 400 + 0.5 * 80**2) / 80 = sqrt(4000) / 80 of each 20 kW
    assert np.allclose(half_low, 100.0 - 20.0 * np.sqrt(4000.0) / 80.0)
