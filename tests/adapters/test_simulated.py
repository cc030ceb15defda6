"""Simulated device physics: bounds hold, the sun sets, processes ramp, fleets get their energy."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulated import SimulatedAdapter
from adapters.simulated.physics import make_device
from adapters.simulated.solar import sun_elevation_deg
from vpp.domain.commands import DeliveryStatus, SetpointCommand
from vpp.ports import BoundAsset, ManualClock

T0 = datetime(2026, 6, 21, 16, 0, tzinfo=UTC)  # midnight in Beijing
BATTERY = {
    "capacity_kwh": 1000,
    "charge_power_kw": 500,
    "discharge_power_kw": 500,
    "soc_min": 0.1,
    "soc_max": 0.9,
    "round_trip_efficiency": 0.9,
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2000, 2000), min_size=1, max_size=96), st.integers(0, 2**31))
def test_battery_state_of_charge_never_leaves_its_bounds(targets: list[float], seed: int) -> None:
    device = make_device("battery", BATTERY, seed, 38.9, 100.5)
    now = T0
    for target in targets:
        device.set_target(target, now + timedelta(minutes=15))
        now += timedelta(minutes=15)
        state = device.step(now, 900)
        assert state.soc is not None
        assert 0.1 - 1e-9 <= state.soc <= 0.9 + 1e-9
        assert -500 <= state.power_kw <= 500


def test_battery_energy_books_efficiency_on_charging() -> None:
    device = make_device("battery", BATTERY, 1, 38.9, 100.5)
    device.set_target(400, T0 + timedelta(hours=1))
    state = device.step(T0 + timedelta(minutes=15), 900)
    assert state.energy_kwh == pytest.approx(500 + 400 * 0.25 * 0.9)


def test_solar_noon_in_the_park_is_about_13_18_beijing_time() -> None:
    noon_utc = datetime(2026, 6, 21, 5, 18, tzinfo=UTC)
    elevations = {
        m: sun_elevation_deg(noon_utc + timedelta(minutes=m), 38.93, 100.45)
        for m in range(-60, 61, 5)
    }
    assert max(elevations, key=elevations.__getitem__) in (-5, 0, 5)
    assert elevations[0] == pytest.approx(90 - 38.93 + 23.44, abs=0.5)
    assert sun_elevation_deg(datetime(2026, 6, 21, 17, 0, tzinfo=UTC), 38.93, 100.45) < 0


def test_pv_is_dark_at_night_generates_by_day_and_curtails_on_command() -> None:
    pv = make_device("pv", {"peak_kw": 1000}, 5, 38.93, 100.45)
    assert pv.step(T0, 900).power_kw == 0.0
    midday = datetime(2026, 6, 21, 5, 0, tzinfo=UTC)
    generating = pv.step(midday, 900).power_kw
    assert -1000 < generating < -300
    pv.set_target(-100, midday + timedelta(minutes=15))
    assert pv.step(midday + timedelta(minutes=1), 60).power_kw == -100


def test_shiftable_process_respects_minimum_load_and_ramp() -> None:
    kiln = make_device(
        "shiftable_process",
        {
            "process": "kiln",
            "rated_kw": 4500,
            "min_stable_kw": 3200,
            "max_kw": 5200,
            "storage_kwh": 4000,
            "ramp_kw_per_min": 50,
        },
        2,
        38.9,
        100.5,
    )
    kiln.set_target(0, T0 + timedelta(hours=2))
    powers = [kiln.step(T0 + timedelta(minutes=m), 60).power_kw for m in range(1, 40)]
    steps = [a - b for a, b in itertools.pairwise(powers)]
    assert max(steps) <= 50 + 1e-6
    assert min(powers) >= 3200 - 1e-6
    assert powers[-1] == pytest.approx(3200)


def test_ev_fleet_receives_its_energy_within_the_window_even_when_told_to_wait() -> None:
    fleet = make_device(
        "ev_fleet",
        {"charger_count": 10, "charger_power_kw": 50, "daily_energy_kwh": 2000, "plug_in_hours": 8},
        3,
        38.9,
        100.5,
    )
    start = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)  # 18:00 Beijing: plug-in
    fleet.set_target(0, start + timedelta(hours=8))
    delivered = 0.0
    for minute in range(0, 8 * 60, 15):
        delivered += fleet.step(start + timedelta(minutes=minute), 900).power_kw * 0.25
    assert delivered == pytest.approx(2000, rel=0.11)  # each day's need varies by +-10 %


def test_same_seed_replays_the_same_day() -> None:
    def day(seed: int) -> list[float]:
        load = make_device(
            "curtailable_load", {"nominal_kw": 800, "min_kw": 400}, seed, 38.9, 100.5
        )
        return [load.step(T0 + timedelta(minutes=15 * i), 900).power_kw for i in range(96)]

    assert day(11) == day(11)
    assert day(11) != day(12)


@pytest.mark.anyio
async def test_adapter_applies_each_command_once_and_reverts_after_expiry() -> None:
    clock = ManualClock(T0)
    adapter = SimulatedAdapter(clock)
    asset = uuid.uuid4()
    adapter.bind_asset(BoundAsset(asset, "battery", BATTERY, {"seed": 1}))
    command = SetpointCommand(uuid.uuid4(), asset, T0, -300.0, T0 + timedelta(minutes=15))
    outcomes = await adapter.deliver([command, command])
    assert [o.status for o in outcomes] == [DeliveryStatus.ACKED, DeliveryStatus.ACKED]
    assert adapter.applied[asset] == {command.id}
    clock.advance(600)
    assert adapter.read_all()[0].power_kw == -300.0
    clock.advance(600)
    assert adapter.read_all()[0].power_kw == 0.0  # the target expired: back to idle
    unknown = SetpointCommand(uuid.uuid4(), uuid.uuid4(), T0, 1.0, T0 + timedelta(minutes=15))
    assert (await adapter.deliver([unknown]))[0].status is DeliveryStatus.FAILED
