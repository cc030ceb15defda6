"""OCPP 1.6 vocabulary translation, on payloads as chargers send them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.errors import AdapterPayloadError
from adapters.ocpp import (
    OcppBindingSettings,
    build_set_charging_profile,
    format_ocpp_time,
    parse_charge_point_id,
    parse_meter_values,
    parse_ocpp_time,
    parse_profile_status,
    parse_status,
)
from adapters.ocpp.lib import snake_case_payload

# Frames as captured on the wire (OCPP-J CALL: [2, id, action, payload]).
AC_THREE_PHASE = """[2, "19223201", "MeterValues", {"connectorId": 1, "transactionId": 4711,
 "meterValue": [{"timestamp": "2024-03-05T09:30:00.000Z", "sampledValue": [
  {"value": "15234.000", "context": "Sample.Periodic", "format": "Raw",
   "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"},
  {"value": "3680.000", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
   "phase": "L1", "location": "Outlet", "unit": "W"},
  {"value": "3675.000", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
   "phase": "L2", "location": "Outlet", "unit": "W"},
  {"value": "3690.000", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
   "phase": "L3", "location": "Outlet", "unit": "W"},
  {"value": "16.02", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
  {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"}]}]}]"""

DC_WITH_SOC = """[2, "a7f3", "MeterValues", {"connectorId": 2, "transactionId": 88,
 "meterValue": [{"timestamp": "2024-03-05T09:30:00+08:00", "sampledValue": [
  {"value": "49.8", "measurand": "Power.Active.Import", "unit": "kW"},
  {"value": "57", "measurand": "SoC", "unit": "Percent", "location": "EV"},
  {"value": "1203.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}]},
  {"timestamp": "2024-03-05T09:31:00+08:00", "sampledValue": [
  {"value": "1204.3", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}]}]}]"""

ENERGY_ONLY_DEFAULTS = """[2, "77", "MeterValues", {"connectorId": 1,
 "meterValue": [{"timestamp": "2024-03-05T01:30:00Z", "sampledValue": [{"value": "1000"}]}]}]"""

V2G_EXPORT_TOTAL_AND_PHASES = """[2, "78", "MeterValues", {"connectorId": 1,
 "meterValue": [{"timestamp": "2024-03-05T01:30:00Z", "sampledValue": [
  {"value": "5000", "measurand": "Power.Active.Export", "unit": "W"},
  {"value": "1700", "measurand": "Power.Active.Export", "phase": "L1", "unit": "W"},
  {"value": "0", "measurand": "Power.Active.Import", "unit": "W"},
  {"value": "b2b0...signed", "format": "SignedData", "measurand": "Power.Active.Import"}]}]}]"""


def meter_value(frame: str) -> list[dict[str, Any]]:
    """The ``meter_value`` argument the library hands to a MeterValues handler."""
    payload = json.loads(frame)[3]
    value: list[dict[str, Any]] = snake_case_payload(payload)["meter_value"]
    return value


def test_three_phase_ac_sums_the_phases_to_kw() -> None:
    [sample] = parse_meter_values(meter_value(AC_THREE_PHASE))
    assert sample.ts == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    assert sample.power_kw == pytest.approx(11.045)
    assert sample.energy_kwh == pytest.approx(15.234)
    assert sample.soc is None


def test_dc_total_in_kw_with_soc_and_local_time() -> None:
    first, second = parse_meter_values(meter_value(DC_WITH_SOC))
    assert first.ts == datetime(2024, 3, 5, 1, 30, tzinfo=UTC)
    assert first.power_kw == pytest.approx(49.8)
    assert first.soc == pytest.approx(0.57)
    assert first.energy_kwh == pytest.approx(1203.5)
    assert second.power_kw is None
    assert second.energy_kwh == pytest.approx(1204.3)


def test_default_measurand_is_the_energy_register_in_wh() -> None:
    [sample] = parse_meter_values(meter_value(ENERGY_ONLY_DEFAULTS))
    assert sample.energy_kwh == pytest.approx(1.0)
    assert sample.power_kw is None


def test_export_is_negative_net_load_and_a_total_beats_the_phases() -> None:
    [sample] = parse_meter_values(meter_value(V2G_EXPORT_TOTAL_AND_PHASES))
    assert sample.power_kw == pytest.approx(-5.0)


@pytest.mark.parametrize(
    ("sampled", "message"),
    [
        ({"value": "abc", "measurand": "Power.Active.Import", "unit": "W"}, "value 'abc'"),
        ({"value": "NaN", "measurand": "Power.Active.Import", "unit": "W"}, "value nan"),
        ({"value": "11", "measurand": "Power.Active.Import", "unit": "kVA"}, "unit 'kVA'"),
        ({"value": "120", "measurand": "SoC", "unit": "Percent"}, "outside 0-100"),
    ],
)
def test_nonsense_values_are_payload_errors(sampled: dict[str, str], message: str) -> None:
    entry = {"timestamp": "2024-03-05T01:30:00Z", "sampled_value": [sampled]}
    with pytest.raises(AdapterPayloadError, match=message):
        parse_meter_values([entry])


def test_times() -> None:
    assert parse_ocpp_time("2024-03-05T01:30:00Z") == datetime(2024, 3, 5, 1, 30, tzinfo=UTC)
    assert parse_ocpp_time("2024-03-05T01:30:00") == datetime(2024, 3, 5, 1, 30, tzinfo=UTC)
    with pytest.raises(AdapterPayloadError):
        parse_ocpp_time("yesterday")
    assert format_ocpp_time(datetime(2024, 3, 5, 1, 30, tzinfo=UTC)) == "2024-03-05T01:30:00.000Z"
    with pytest.raises(ValueError, match="naive"):
        format_ocpp_time(datetime(2024, 3, 5, 1, 30))


def test_statuses_and_identities() -> None:
    assert parse_status("SuspendedEVSE") == "suspended_evse"
    assert parse_status("Charging") == "charging"
    with pytest.raises(AdapterPayloadError):
        parse_status("Sleeping")
    assert parse_charge_point_id("/ocpp/CP-0042") == "CP-0042"
    assert parse_charge_point_id("/CP%2F7/") == "CP/7"
    assert parse_charge_point_id("/steve/websocket/CentralSystemService/GS-1?x=1") == "GS-1"
    with pytest.raises(AdapterPayloadError):
        parse_charge_point_id("/")


def test_profile_statuses() -> None:
    assert parse_profile_status("Accepted") is True
    assert parse_profile_status("Rejected") is False
    assert parse_profile_status("NotSupported") is False
    with pytest.raises(AdapterPayloadError):
        parse_profile_status("Maybe")


def test_a_setpoint_becomes_one_absolute_period_in_watts_valid_until_the_expiry() -> None:
    request = build_set_charging_profile(
        connector_id=1,
        limit_kw=7.36,
        valid_from=datetime(2024, 3, 5, 1, 30, tzinfo=UTC),
        valid_to=datetime(2024, 3, 5, 1, 45, tzinfo=UTC),
        purpose="TxDefaultProfile",
        stack_level=1,
        profile_id=7101,
    )
    assert request.connector_id == 1
    profile = request.cs_charging_profiles
    assert profile.charging_profile_id == 7101
    assert profile.charging_profile_purpose == "TxDefaultProfile"
    assert profile.charging_profile_kind == "Absolute"
    assert profile.valid_from == "2024-03-05T01:30:00.000Z"
    assert profile.valid_to == "2024-03-05T01:45:00.000Z"
    schedule = profile.charging_schedule
    assert schedule.charging_rate_unit == "W"
    assert schedule.duration == 900
    assert [(p.start_period, p.limit) for p in schedule.charging_schedule_period] == [(0, 7360.0)]
    with pytest.raises(ValueError, match="negative"):
        build_set_charging_profile(
            connector_id=1,
            limit_kw=-1,
            valid_from=datetime(2024, 3, 5, tzinfo=UTC),
            valid_to=datetime(2024, 3, 6, tzinfo=UTC),
            purpose="TxDefaultProfile",
            stack_level=1,
            profile_id=1,
        )


def test_binding_settings() -> None:
    settings = OcppBindingSettings(charge_point_id="CP1", connector_id=2, max_power_kw=22)
    assert settings.profile_id == 7102
    with pytest.raises(ValueError, match="connector_id 0"):
        OcppBindingSettings(
            charge_point_id="CP1",
            connector_id=1,
            max_power_kw=22,
            profile_purpose="ChargePointMaxProfile",
        )
