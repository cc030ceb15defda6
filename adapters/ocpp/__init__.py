"""OCPP 1.6J adapter: a central system (websocket server) for EV chargers."""

from adapters.ocpp.adapter import (
    CentralChargePoint,
    OcppAdapter,
    OcppBindingSettings,
    OcppConfig,
    OcppCounters,
)
from adapters.ocpp.parse import (
    MeterSample,
    build_set_charging_profile,
    format_ocpp_time,
    parse_charge_point_id,
    parse_meter_values,
    parse_ocpp_time,
    parse_profile_status,
    parse_status,
)

__all__ = [
    "CentralChargePoint",
    "MeterSample",
    "OcppAdapter",
    "OcppBindingSettings",
    "OcppConfig",
    "OcppCounters",
    "build_set_charging_profile",
    "format_ocpp_time",
    "parse_charge_point_id",
    "parse_meter_values",
    "parse_ocpp_time",
    "parse_profile_status",
    "parse_status",
]
