"""OCPP 1.6 vocabulary to domain values and back, in one place.

Meter values become kW (net-load sign: + = the charger draws from the grid), kWh and SoC
fractions; connector statuses become lower-case status words; a setpoint becomes a
``SetChargingProfile`` with a power limit in W and a validity end. Payloads are taken as the
``ocpp`` library hands them to handlers: the wire JSON with snake_case keys.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from adapters.errors import AdapterPayloadError
from adapters.ocpp.lib import call16, datatypes16, enums16

ProfilePurpose = Literal["TxDefaultProfile", "ChargePointMaxProfile"]

STATUS_NAMES: dict[str, str] = {
    "Available": "available",
    "Preparing": "preparing",
    "Charging": "charging",
    "SuspendedEVSE": "suspended_evse",
    "SuspendedEV": "suspended_ev",
    "Finishing": "finishing",
    "Reserved": "reserved",
    "Unavailable": "unavailable",
    "Faulted": "faulted",
}
"""ChargePointStatus (OCPP 1.6 section 7.7) to the status word stored with telemetry."""

DRAWING_STATUSES = frozenset({"charging"})
"""Statuses in which a connector may draw power; in every other one it draws none."""

POWER_IMPORT = "Power.Active.Import"
POWER_EXPORT = "Power.Active.Export"
ENERGY_IMPORT = "Energy.Active.Import.Register"
SOC = "SoC"
DEFAULT_MEASURAND = ENERGY_IMPORT  # OCPP 1.6 section 7.31: the measurand when none is given

# Multipliers from each measurand's units to the domain's; the first unit is the default.
_UNITS: dict[str, dict[str, float]] = {
    POWER_IMPORT: {"W": 0.001, "kW": 1.0},
    POWER_EXPORT: {"W": 0.001, "kW": 1.0},
    ENERGY_IMPORT: {"Wh": 0.001, "kWh": 1.0},
    SOC: {"Percent": 0.01},
}
_DEFAULT_UNIT = {POWER_IMPORT: "W", POWER_EXPORT: "W", ENERGY_IMPORT: "Wh", SOC: "Percent"}
_LINE_PHASES = frozenset({"L1", "L2", "L3", "L1-N", "L2-N", "L3-N"})


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One ``meterValue`` entry: what a connector measured at ``ts`` (None if not sent)."""

    ts: datetime
    power_kw: float | None
    energy_kwh: float | None
    soc: float | None


def parse_ocpp_time(text: str) -> datetime:
    """An OCPP dateTime (RFC 3339) as a UTC-aware datetime; a missing offset is read as UTC,
    which OCPP prescribes for every timestamp."""
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise AdapterPayloadError(f"not an OCPP dateTime: {text!r}") from error
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_ocpp_time(moment: datetime) -> str:
    """A UTC-aware datetime as OCPP writes it: ``2025-06-01T08:15:00.000Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: OCPP timestamps are UTC")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_status(status: str) -> str:
    """A ChargePointStatus as a status word (``SuspendedEV`` -> ``suspended_ev``)."""
    try:
        return STATUS_NAMES[status]
    except KeyError:
        raise AdapterPayloadError(f"unknown charge point status {status!r}") from None


def parse_charge_point_id(path: str) -> str:
    """The charge point identity: the last segment of the websocket URL path
    (``/ocpp/CP-0042`` -> ``CP-0042``), percent-decoded (OCPP-J section 3.1.1)."""
    segment = urllib.parse.urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
    identity = urllib.parse.unquote(segment)
    if not identity:
        raise AdapterPayloadError(f"no charge point identity in the path {path!r}")
    return identity


def _sampled_value(sample: Mapping[str, Any]) -> tuple[str, str | None, float] | None:
    """``(measurand, phase, value in the domain unit)``, or None for what is not used."""
    measurand = sample.get("measurand", DEFAULT_MEASURAND)
    if measurand not in _UNITS or sample.get("format") == "SignedData":
        return None
    unit = sample.get("unit", _DEFAULT_UNIT[measurand])
    factor = _UNITS[measurand].get(unit)
    if factor is None:
        raise AdapterPayloadError(f"{measurand} in unit {unit!r}")
    try:
        value = float(sample["value"])
    except (KeyError, TypeError, ValueError) as error:
        raise AdapterPayloadError(f"{measurand} value {sample.get('value')!r}") from error
    if not math.isfinite(value):
        raise AdapterPayloadError(f"{measurand} value {value}")
    return measurand, sample.get("phase"), value * factor


def parse_meter_values(meter_value: Sequence[Mapping[str, Any]]) -> list[MeterSample]:
    """The samples of a MeterValues.req (``meter_value`` as the library hands it over).

    Power is Power.Active.Import minus Power.Active.Export (kW; W or kW on the wire, W by
    default). A value without ``phase`` is the total; without one, the L1/L2/L3 (or Lx-N)
    values are summed. Energy is Energy.Active.Import.Register (kWh), SoC a 0-1 fraction.
    Other measurands and signed data are skipped. Raises ``AdapterPayloadError`` on values
    that are not decimals, unknown units, or SoC outside 0-100 %.
    """
    samples: list[MeterSample] = []
    for entry in meter_value:
        ts = parse_ocpp_time(entry.get("timestamp", ""))
        totals: dict[str, float] = {}
        by_phase: dict[str, float] = {}
        for sample in entry.get("sampled_value", []):
            parsed = _sampled_value(sample)
            if parsed is None:
                continue
            measurand, phase, value = parsed
            if phase is None:
                totals[measurand] = value
            elif phase in _LINE_PHASES:
                by_phase[measurand] = by_phase.get(measurand, 0.0) + value
        values = by_phase | totals
        power_kw: float | None = None
        if POWER_IMPORT in values or POWER_EXPORT in values:
            power_kw = values.get(POWER_IMPORT, 0.0) - values.get(POWER_EXPORT, 0.0)
        soc = values.get(SOC)
        if soc is not None and not 0.0 <= soc <= 1.0:
            raise AdapterPayloadError(f"SoC {soc * 100} % outside 0-100 %")
        samples.append(MeterSample(ts, power_kw, values.get(ENERGY_IMPORT), soc))
    return samples


def build_set_charging_profile(
    *,
    connector_id: int,
    limit_kw: float,
    valid_from: datetime,
    valid_to: datetime,
    purpose: ProfilePurpose,
    stack_level: int,
    profile_id: int,
) -> Any:
    """A SetChargingProfile.req holding the charging power at most ``limit_kw`` from
    ``valid_from`` until ``valid_to``, after which the charge point drops the profile and
    falls back to its own default.

    One absolute schedule with one period, in W (the schema allows one decimal). The
    schedule's duration ends at ``valid_to`` as well, for chargers that ignore validTo.
    A profile with the same id (or stack level and purpose) replaces the previous one, so
    a re-sent command is applied once.
    """
    if limit_kw < 0:
        raise ValueError("an OCPP 1.6 charging limit cannot be negative")
    start = format_ocpp_time(valid_from)
    duration_s = max(1, math.ceil((valid_to - valid_from).total_seconds()))
    schedule = datatypes16.ChargingSchedule(
        charging_rate_unit=enums16.ChargingRateUnitType.watts,
        charging_schedule_period=[
            datatypes16.ChargingSchedulePeriod(start_period=0, limit=round(limit_kw * 1000, 1))
        ],
        duration=duration_s,
        start_schedule=start,
    )
    profile = datatypes16.ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=stack_level,
        charging_profile_purpose=enums16.ChargingProfilePurposeType(purpose),
        charging_profile_kind=enums16.ChargingProfileKindType.absolute,
        charging_schedule=schedule,
        valid_from=start,
        valid_to=format_ocpp_time(valid_to),
    )
    return call16.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile)


def parse_profile_status(status: str) -> bool:
    """Whether a SetChargingProfile.conf status accepts the profile
    (``Accepted``; ``Rejected`` and ``NotSupported`` refuse it)."""
    if status == "Accepted":
        return True
    if status in ("Rejected", "NotSupported"):
        return False
    raise AdapterPayloadError(f"unknown ChargingProfileStatus {status!r}")
