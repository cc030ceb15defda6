"""Asset parameters: validation and mapping onto the generalised battery."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from vpp.domain.assets import (
    PARAMS_BY_KIND,
    AssetKind,
    BatteryParams,
    CurtailableLoadParams,
    EvFleetParams,
    ProcessType,
    PvParams,
    ShiftableProcessParams,
    flexibility_of,
    parse_params,
)
from vpp.domain.errors import InvalidParameterError
from vpp.domain.units import Direction

VALID: dict[AssetKind, dict[str, Any]] = {
    AssetKind.BATTERY: {"capacity_kwh": 1000, "charge_power_kw": 500, "discharge_power_kw": 500},
    AssetKind.CURTAILABLE_LOAD: {"nominal_kw": 100, "min_kw": 30, "max_kw": 120},
    AssetKind.SHIFTABLE_PROCESS: {
        "process": "electrolyzer",
        "rated_kw": 1000,
        "min_stable_kw": 150,
        "storage_kwh": 4000,
    },
    AssetKind.EV_FLEET: {"charger_count": 10, "charger_power_kw": 11, "daily_energy_kwh": 440},
    AssetKind.PV: {"peak_kw": 500},
}


def test_battery_mapping() -> None:
    flex = BatteryParams(
        capacity_kwh=1000, charge_power_kw=500, discharge_power_kw=500
    ).to_flexibility()
    assert (flex.baseline_kw, flex.p_min_kw, flex.p_max_kw) == (0.0, -500.0, 500.0)
    assert (flex.e_min_kwh, flex.e_initial_kwh, flex.e_max_kwh) == (100.0, 500.0, 900.0)
    assert (flex.up_kw, flex.down_kw) == (500.0, 500.0)
    assert (flex.efficiency, flex.retention_per_interval, flex.ramp_kw_per_interval) == (
        0.9,
        1.0,
        None,
    )
    lossy = BatteryParams(
        capacity_kwh=200,
        charge_power_kw=100,
        discharge_power_kw=50,
        self_discharge_per_day=0.04,
        ramp_kw_per_min=10,
    ).to_flexibility()
    assert lossy.retention_per_interval**96 == pytest.approx(0.96)
    assert lossy.ramp_kw_per_interval == 150.0
    assert (lossy.up_kw, lossy.down_kw) == (100.0, 50.0)


def test_curtailable_load_mapping() -> None:
    flex = CurtailableLoadParams(
        nominal_kw=100, min_kw=30, max_kw=120, max_curtailment_kwh_per_day=200
    ).to_flexibility()
    assert (flex.baseline_kw, flex.p_min_kw, flex.p_max_kw) == (100.0, -70.0, 20.0)
    assert (flex.e_min_kwh, flex.e_initial_kwh, flex.e_max_kwh) == (-200.0, 0.0, math.inf)
    assert (flex.up_kw, flex.down_kw) == (20.0, 70.0)
    assert flex.sustainable_kw(Direction.DOWN, 4) == 50.0
    fixed_top = CurtailableLoadParams(nominal_kw=100, min_kw=30)
    assert fixed_top.max_kw == 100.0
    assert fixed_top.to_flexibility().p_max_kw == 0.0
    assert fixed_top.to_flexibility().e_min_kwh == -math.inf


def test_shiftable_process_mapping() -> None:
    params = ShiftableProcessParams(
        process=ProcessType.ELECTROLYZER,
        rated_kw=1000,
        min_stable_kw=150,
        max_kw=1100,
        storage_kwh=4000,
        storage_initial_fraction=0.25,
        storage_loss_per_day=0.5,
    )
    flex = flexibility_of(params)
    assert (flex.baseline_kw, flex.p_min_kw, flex.p_max_kw) == (1000.0, -850.0, 100.0)
    assert (flex.e_min_kwh, flex.e_initial_kwh, flex.e_max_kwh) == (-1000.0, 0.0, 3000.0)
    assert flex.retention_per_interval**96 == pytest.approx(0.5)
    assert flex.efficiency == 1.0
    assert ShiftableProcessParams(**VALID[AssetKind.SHIFTABLE_PROCESS]).process is (
        ProcessType.ELECTROLYZER
    )


def test_ev_fleet_mapping() -> None:
    flex = EvFleetParams(
        charger_count=10, charger_power_kw=11, daily_energy_kwh=440, plug_in_hours=8
    ).to_flexibility()
    assert (flex.baseline_kw, flex.p_min_kw, flex.p_max_kw) == (55.0, -55.0, 55.0)
    assert (flex.e_min_kwh, flex.e_initial_kwh, flex.e_max_kwh) == (-220.0, 0.0, 220.0)
    v2g = EvFleetParams(
        charger_count=10, charger_power_kw=11, daily_energy_kwh=440, plug_in_hours=8, v2g=True
    ).to_flexibility()
    assert (v2g.p_min_kw, v2g.down_kw) == (-165.0, 165.0)


def test_pv_mapping() -> None:
    flex = PvParams(peak_kw=500, inverter_kw=450).to_flexibility()
    assert (flex.baseline_kw, flex.p_min_kw, flex.p_max_kw) == (0.0, 0.0, 450.0)
    assert (flex.up_kw, flex.down_kw) == (450.0, 0.0)
    assert (flex.e_min_kwh, flex.e_max_kwh) == (-math.inf, math.inf)
    assert PvParams(peak_kw=500).inverter_kw == 500.0
    assert PvParams(peak_kw=500, inverter_kw=600).ac_capacity_kw == 500.0
    assert PvParams(peak_kw=500, curtailable=False).to_flexibility().up_kw == 0.0


def test_ints_are_stored_as_floats() -> None:
    params = BatteryParams(capacity_kwh=1000, charge_power_kw=500, discharge_power_kw=0)
    assert all(type(getattr(params, f.name)) is float for f in dataclasses.fields(params)[:8])


IMPOSSIBLE: list[tuple[AssetKind, dict[str, Any], str, str]] = [
    (AssetKind.BATTERY, {"capacity_kwh": 0}, "capacity_kwh", "positive"),
    (AssetKind.BATTERY, {"capacity_kwh": -1000}, "capacity_kwh", "positive"),
    (AssetKind.BATTERY, {"capacity_kwh": math.nan}, "capacity_kwh", "finite"),
    (AssetKind.BATTERY, {"capacity_kwh": math.inf}, "capacity_kwh", "finite"),
    (AssetKind.BATTERY, {"capacity_kwh": "big"}, "capacity_kwh", "type"),
    (AssetKind.BATTERY, {"charge_power_kw": True}, "charge_power_kw", "type"),
    (AssetKind.BATTERY, {"charge_power_kw": -5}, "charge_power_kw", "non_negative"),
    (AssetKind.BATTERY, {"discharge_power_kw": -5}, "discharge_power_kw", "non_negative"),
    (AssetKind.BATTERY, {"soc_min": 0.95}, "soc_min", "soc_order"),
    (AssetKind.BATTERY, {"soc_max": 1.2}, "soc_max", "fraction"),
    (AssetKind.BATTERY, {"soc_min": -0.1}, "soc_min", "fraction"),
    (AssetKind.BATTERY, {"soc_initial": 0.05}, "soc_initial", "soc_order"),
    (AssetKind.BATTERY, {"round_trip_efficiency": 0}, "round_trip_efficiency", "efficiency_range"),
    (
        AssetKind.BATTERY,
        {"round_trip_efficiency": 1.1},
        "round_trip_efficiency",
        "efficiency_range",
    ),
    (AssetKind.BATTERY, {"self_discharge_per_day": 1}, "self_discharge_per_day", "loss_range"),
    (AssetKind.BATTERY, {"ramp_kw_per_min": 0}, "ramp_kw_per_min", "positive"),
    (AssetKind.CURTAILABLE_LOAD, {"nominal_kw": -1, "min_kw": 0}, "nominal_kw", "non_negative"),
    (AssetKind.CURTAILABLE_LOAD, {"min_kw": 101}, "min_kw", "power_order"),
    (AssetKind.CURTAILABLE_LOAD, {"max_kw": 99}, "max_kw", "power_order"),
    (
        AssetKind.CURTAILABLE_LOAD,
        {"max_curtailment_kwh_per_day": 0},
        "max_curtailment_kwh_per_day",
        "positive",
    ),
    (AssetKind.SHIFTABLE_PROCESS, {"process": "reactor"}, "process", "enum"),
    (AssetKind.SHIFTABLE_PROCESS, {"rated_kw": 0}, "rated_kw", "positive"),
    (AssetKind.SHIFTABLE_PROCESS, {"min_stable_kw": 1001}, "min_stable_kw", "power_order"),
    (AssetKind.SHIFTABLE_PROCESS, {"max_kw": 900}, "max_kw", "power_order"),
    (AssetKind.SHIFTABLE_PROCESS, {"storage_kwh": -1}, "storage_kwh", "non_negative"),
    (
        AssetKind.SHIFTABLE_PROCESS,
        {"storage_initial_fraction": 1.5},
        "storage_initial_fraction",
        "fraction",
    ),
    (
        AssetKind.SHIFTABLE_PROCESS,
        {"storage_loss_per_day": -0.1},
        "storage_loss_per_day",
        "loss_range",
    ),
    (AssetKind.EV_FLEET, {"charger_count": 0}, "charger_count", "positive"),
    (AssetKind.EV_FLEET, {"charger_count": 2.5}, "charger_count", "type"),
    (AssetKind.EV_FLEET, {"charger_power_kw": 0}, "charger_power_kw", "positive"),
    (AssetKind.EV_FLEET, {"daily_energy_kwh": -1}, "daily_energy_kwh", "non_negative"),
    (AssetKind.EV_FLEET, {"daily_energy_kwh": 1101}, "daily_energy_kwh", "energy_feasible"),
    (AssetKind.EV_FLEET, {"plug_in_hours": 0}, "plug_in_hours", "hours_range"),
    (AssetKind.EV_FLEET, {"plug_in_hours": 25}, "plug_in_hours", "hours_range"),
    (AssetKind.EV_FLEET, {"v2g": "yes"}, "v2g", "type"),
    (AssetKind.PV, {"peak_kw": 0}, "peak_kw", "positive"),
    (AssetKind.PV, {"inverter_kw": -1}, "inverter_kw", "positive"),
    (AssetKind.PV, {"curtailable": 1}, "curtailable", "type"),
    (AssetKind.PV, {"tilt_deg": 95}, "tilt_deg", "angle_range"),
    (AssetKind.PV, {"azimuth_deg": -1}, "azimuth_deg", "angle_range"),
]


@pytest.mark.parametrize(("kind", "override", "field", "rule"), IMPOSSIBLE)
def test_impossible_parameters_are_rejected(
    kind: AssetKind, override: dict[str, Any], field: str, rule: str
) -> None:
    cls = PARAMS_BY_KIND[kind]
    with pytest.raises(InvalidParameterError) as info:
        cls(**{**VALID[kind], **override})
    assert (info.value.field, info.value.rule) == (field, rule)
    assert str(info.value).startswith(f"{field} ")
    assert str(info.value).endswith(f"(rule: {rule})")


def test_error_message_reads_well() -> None:
    with pytest.raises(InvalidParameterError) as info:
        BatteryParams(capacity_kwh=1, charge_power_kw=1, discharge_power_kw=1, soc_min=0.95)
    assert str(info.value) == "soc_min must not exceed soc_max (rule: soc_order)"


@pytest.mark.parametrize("kind", list(AssetKind))
def test_parse_params_builds_each_kind(kind: AssetKind) -> None:
    params = parse_params(kind.value, VALID[kind])
    assert type(params) is PARAMS_BY_KIND[kind]
    assert params.kind is kind


def test_parse_params_rejects_unknown_and_missing_fields() -> None:
    with pytest.raises(InvalidParameterError) as unknown:
        parse_params("battery", {**VALID[AssetKind.BATTERY], "colour": "red"})
    assert (unknown.value.field, unknown.value.rule) == ("colour", "unknown_field")
    with pytest.raises(InvalidParameterError) as missing:
        parse_params(AssetKind.PV, {"tilt_deg": 20})
    assert (missing.value.field, missing.value.rule) == ("peak_kw", "required")
    with pytest.raises(InvalidParameterError) as kind:
        parse_params("nuclear", {})
    assert (kind.value.field, kind.value.rule) == ("kind", "enum")


def test_pydantic_reads_the_dataclasses_at_the_edge() -> None:
    for cls in PARAMS_BY_KIND.values():
        schema = TypeAdapter(cls).json_schema()
        assert schema["additionalProperties"] is False
        assert all(prop.get("description") for prop in schema["properties"].values())
    adapter = TypeAdapter(BatteryParams)
    with pytest.raises(ValidationError, match="Unexpected keyword argument"):
        adapter.validate_python({**VALID[AssetKind.BATTERY], "colour": "red"})
    with pytest.raises(ValidationError) as info:
        adapter.validate_python({**VALID[AssetKind.BATTERY], "soc_max": 0.05})
    error = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, InvalidParameterError)
    assert (error.field, error.rule) == ("soc_min", "soc_order")


soc_triples = st.lists(st.floats(0, 1), min_size=3, max_size=3).map(sorted)
batteries = st.builds(
    lambda soc, **kw: BatteryParams(soc_min=soc[0], soc_initial=soc[1], soc_max=soc[2], **kw),
    soc_triples,
    capacity_kwh=st.floats(0.1, 1e6),
    charge_power_kw=st.floats(0, 1e5),
    discharge_power_kw=st.floats(0, 1e5),
    round_trip_efficiency=st.floats(0.01, 1),
    self_discharge_per_day=st.floats(0, 0.99),
)


@settings(database=None, deadline=None)
@given(batteries, st.sampled_from(Direction), st.floats(0.25, 24))
def test_valid_batteries_give_consistent_flexibility(
    params: BatteryParams, direction: Direction, hours: float
) -> None:
    flex = params.to_flexibility()
    assert flex.p_min_kw <= 0 <= flex.p_max_kw
    assert flex.e_min_kwh <= flex.e_initial_kwh <= flex.e_max_kwh
    assert 0 < flex.retention_per_interval <= 1
    rated = flex.up_kw if direction is Direction.UP else flex.down_kw
    assert 0 <= flex.sustainable_kw(direction, hours) <= rated
