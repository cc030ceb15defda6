"""Asset kinds, their validated parameters, and their mapping onto the generalised battery."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias

from vpp.domain.errors import InvalidParameterError, check_range
from vpp.domain.flexibility import GeneralisedBattery
from vpp.domain.time import INTERVAL, INTERVALS_PER_DAY

_INTERVAL_MINUTES = INTERVAL.total_seconds() / 60


class AssetKind(StrEnum):
    """What an asset is; selects its parameter class (`PARAMS_BY_KIND`)."""

    BATTERY = "battery"
    CURTAILABLE_LOAD = "curtailable_load"
    SHIFTABLE_PROCESS = "shiftable_process"
    EV_FLEET = "ev_fleet"
    PV = "pv"


class ProcessType(StrEnum):
    """Industrial process behind a shiftable load."""

    ELECTROLYZER = "electrolyzer"
    ELECTRIC_BOILER = "electric_boiler"
    KILN = "kiln"
    DATA_CENTER = "data_center"


# --- field checks: validate, normalise int -> float, store on the frozen instance ----------


def _real(
    obj: object,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    rule: str,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    value = check_range(
        name, getattr(obj, name), low, high, rule=rule, low_open=low_open, high_open=high_open
    )
    object.__setattr__(obj, name, value)
    return value


def _positive(obj: object, name: str) -> float:
    return _real(obj, name, 0.0, rule="positive", low_open=True)


def _non_negative(obj: object, name: str) -> float:
    return _real(obj, name, 0.0, rule="non_negative")


def _fraction(obj: object, name: str) -> float:
    return _real(obj, name, 0.0, 1.0, rule="fraction")


def _loss(obj: object, name: str) -> float:
    return _real(obj, name, 0.0, 1.0, rule="loss_range", high_open=True)


def _optional_positive(obj: object, name: str) -> float | None:
    return None if getattr(obj, name) is None else _positive(obj, name)


def _optional_non_negative(obj: object, name: str) -> float | None:
    return None if getattr(obj, name) is None else _non_negative(obj, name)


def _flag(obj: object, name: str) -> bool:
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise InvalidParameterError(name, "type", f"must be true or false, got {value!r}")
    return value


def _at_least(name: str, value: float, other: str, floor: float) -> None:
    if value < floor:
        raise InvalidParameterError(name, "power_order", f"must be at least {other}")


def _at_most(name: str, value: float, other: str, ceiling: float) -> None:
    if value > ceiling:
        raise InvalidParameterError(name, "power_order", f"must not exceed {other}")


def _ramp_per_interval(ramp_kw_per_min: float | None) -> float | None:
    return None if ramp_kw_per_min is None else ramp_kw_per_min * _INTERVAL_MINUTES


def _retention(loss_per_day: float) -> float:
    """Per-interval retention a from a daily loss fraction: (1 - loss) ** (1/96)."""
    return float((1.0 - loss_per_day) ** (1.0 / INTERVALS_PER_DAY))


# --- parameter classes ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BatteryParams:
    """Stationary battery storage."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }
    kind: ClassVar[AssetKind] = AssetKind.BATTERY

    capacity_kwh: float
    """Usable energy capacity (kWh, > 0)."""
    charge_power_kw: float
    """Maximum charging power (kW, >= 0)."""
    discharge_power_kw: float
    """Maximum discharging power (kW, >= 0)."""
    soc_min: float = 0.1
    """Lowest allowed state of charge (fraction of capacity, 0..1)."""
    soc_max: float = 0.9
    """Highest allowed state of charge (fraction of capacity, 0..1, >= soc_min)."""
    soc_initial: float = 0.5
    """State of charge at the start of the horizon (fraction, within [soc_min, soc_max])."""
    round_trip_efficiency: float = 0.9
    """Round-trip efficiency (fraction in (0, 1]), applied on charging."""
    self_discharge_per_day: float = 0.0
    """Fraction of the stored energy lost per day while idle (fraction in [0, 1))."""
    ramp_kw_per_min: float | None = None
    """Largest power change per minute (kW/min, > 0); None = unlimited."""

    activation_cost_cny_per_mwh: float | None = None
    """What the enterprise declares one MWh of activated flexibility costs it (CNY/MWh,
    >= 0): lost production, comfort, wear. None = the kind's default (`activation_cost_of`)."""

    def __post_init__(self) -> None:
        _optional_non_negative(self, "activation_cost_cny_per_mwh")
        _positive(self, "capacity_kwh")
        _non_negative(self, "charge_power_kw")
        _non_negative(self, "discharge_power_kw")
        soc_min, soc_max = _fraction(self, "soc_min"), _fraction(self, "soc_max")
        if soc_min > soc_max:
            raise InvalidParameterError("soc_min", "soc_order", "must not exceed soc_max")
        if not soc_min <= _fraction(self, "soc_initial") <= soc_max:
            raise InvalidParameterError(
                "soc_initial", "soc_order", "must lie within [soc_min, soc_max]"
            )
        _real(self, "round_trip_efficiency", 0.0, 1.0, rule="efficiency_range", low_open=True)
        _loss(self, "self_discharge_per_day")
        _optional_positive(self, "ramp_kw_per_min")

    def to_flexibility(self) -> GeneralisedBattery:
        """Baseline 0; p in [-discharge, charge]; e = stored energy in [soc_min, soc_max]·cap."""
        return GeneralisedBattery(
            baseline_kw=0.0,
            p_min_kw=-self.discharge_power_kw,
            p_max_kw=self.charge_power_kw,
            e_min_kwh=self.soc_min * self.capacity_kwh,
            e_max_kwh=self.soc_max * self.capacity_kwh,
            e_initial_kwh=self.soc_initial * self.capacity_kwh,
            retention_per_interval=_retention(self.self_discharge_per_day),
            efficiency=self.round_trip_efficiency,
            ramp_kw_per_interval=_ramp_per_interval(self.ramp_kw_per_min),
        )


@dataclass(frozen=True, kw_only=True)
class CurtailableLoadParams:
    """HVAC, lighting, pumps or process loads that can be reduced (or raised up to a maximum)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }
    kind: ClassVar[AssetKind] = AssetKind.CURTAILABLE_LOAD

    nominal_kw: float
    """Typical consumption without the VPP (kW, >= 0)."""
    min_kw: float
    """Must-run floor the load can be curtailed to (kW, >= 0, <= nominal_kw)."""
    max_kw: float | None = None
    """Highest consumption it can be raised to (kW, >= nominal_kw); None = nominal_kw."""
    max_curtailment_kwh_per_day: float | None = None
    """Daily budget of curtailed energy (kWh, > 0); None = unlimited."""
    ramp_kw_per_min: float | None = None
    """Largest power change per minute (kW/min, > 0); None = unlimited."""

    activation_cost_cny_per_mwh: float | None = None
    """What the enterprise declares one MWh of activated flexibility costs it (CNY/MWh,
    >= 0): lost production, comfort, wear. None = the kind's default (`activation_cost_of`)."""

    def __post_init__(self) -> None:
        _optional_non_negative(self, "activation_cost_cny_per_mwh")
        nominal = _non_negative(self, "nominal_kw")
        _at_most("min_kw", _non_negative(self, "min_kw"), "nominal_kw", nominal)
        if self.max_kw is None:
            object.__setattr__(self, "max_kw", nominal)
        _at_least("max_kw", _non_negative(self, "max_kw"), "nominal_kw", nominal)
        _optional_positive(self, "max_curtailment_kwh_per_day")
        _optional_positive(self, "ramp_kw_per_min")

    def to_flexibility(self) -> GeneralisedBattery:
        """Baseline nominal; p in [min - nominal, max - nominal]; e = -(curtailed kWh).

        Curtailing (p < 0) draws the energy state down towards -budget; raising the load
        is energy-unbounded. The budget is per day, i.e. per day-long planning horizon.
        """
        budget = self.max_curtailment_kwh_per_day
        return GeneralisedBattery(
            baseline_kw=self.nominal_kw,
            p_min_kw=self.min_kw - self.nominal_kw,
            p_max_kw=_resolved(self.max_kw, self.nominal_kw) - self.nominal_kw,
            e_min_kwh=-math.inf if budget is None else -budget,
            ramp_kw_per_interval=_ramp_per_interval(self.ramp_kw_per_min),
        )


@dataclass(frozen=True, kw_only=True)
class ShiftableProcessParams:
    """Process with a buffer: electrolyzer + hydrogen store, boiler/kiln + heat store, batch IT."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }
    kind: ClassVar[AssetKind] = AssetKind.SHIFTABLE_PROCESS

    process: ProcessType
    """The industrial process (electrolyzer, electric_boiler, kiln, data_center)."""
    rated_kw: float
    """Nominal consumption the process runs at without the VPP (kW, > 0)."""
    min_stable_kw: float
    """Lowest stable consumption (kW, >= 0, <= rated_kw); electrolyzers ~10-20 % of rated."""
    max_kw: float | None = None
    """Highest consumption (kW, >= rated_kw); None = rated_kw."""
    storage_kwh: float
    """Product/heat/work buffer as electrical-equivalent energy (kWh, >= 0)."""
    storage_initial_fraction: float = 0.5
    """Buffer filling at the start of the horizon (fraction, 0..1)."""
    storage_loss_per_day: float = 0.0
    """Fraction of the buffer lost per day (fraction in [0, 1))."""
    ramp_kw_per_min: float | None = None
    """Largest power change per minute (kW/min, > 0); None = unlimited."""

    activation_cost_cny_per_mwh: float | None = None
    """What the enterprise declares one MWh of activated flexibility costs it (CNY/MWh,
    >= 0): lost production, comfort, wear. None = the kind's default (`activation_cost_of`)."""

    def __post_init__(self) -> None:
        _optional_non_negative(self, "activation_cost_cny_per_mwh")
        try:
            object.__setattr__(self, "process", ProcessType(self.process))
        except ValueError:
            choices = ", ".join(ProcessType)
            raise InvalidParameterError(
                "process", "enum", f"must be one of {choices}, got {self.process!r}"
            ) from None
        rated = _positive(self, "rated_kw")
        _at_most("min_stable_kw", _non_negative(self, "min_stable_kw"), "rated_kw", rated)
        if self.max_kw is None:
            object.__setattr__(self, "max_kw", rated)
        _at_least("max_kw", _non_negative(self, "max_kw"), "rated_kw", rated)
        _non_negative(self, "storage_kwh")
        _fraction(self, "storage_initial_fraction")
        _loss(self, "storage_loss_per_day")
        _optional_positive(self, "ramp_kw_per_min")

    def to_flexibility(self) -> GeneralisedBattery:
        """Baseline rated; p in [min_stable - rated, max - rated]; e = buffer change from start.

        Running below rated (p < 0) drains the buffer, above rated fills it. The linear model
        treats min_stable_kw as a floor: switching the process off is not modelled.
        """
        stored = self.storage_initial_fraction * self.storage_kwh
        return GeneralisedBattery(
            baseline_kw=self.rated_kw,
            p_min_kw=self.min_stable_kw - self.rated_kw,
            p_max_kw=_resolved(self.max_kw, self.rated_kw) - self.rated_kw,
            e_min_kwh=-stored,
            e_max_kwh=self.storage_kwh - stored,
            retention_per_interval=_retention(self.storage_loss_per_day),
            ramp_kw_per_interval=_ramp_per_interval(self.ramp_kw_per_min),
        )


@dataclass(frozen=True, kw_only=True)
class EvFleetParams:
    """A depot or car park of EV chargers serving a fleet with a daily energy need."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }
    kind: ClassVar[AssetKind] = AssetKind.EV_FLEET

    charger_count: int
    """Number of chargers (> 0)."""
    charger_power_kw: float
    """Power of one charger (kW, > 0)."""
    daily_energy_kwh: float
    """Energy the fleet must receive per day (kWh, >= 0)."""
    plug_in_hours: float = 10.0
    """Hours per day the vehicles are plugged in (h, 0 < h <= 24)."""
    v2g: bool = False
    """Whether the chargers can discharge vehicles into the grid (vehicle-to-grid)."""

    activation_cost_cny_per_mwh: float | None = None
    """What the enterprise declares one MWh of activated flexibility costs it (CNY/MWh,
    >= 0): lost production, comfort, wear. None = the kind's default (`activation_cost_of`)."""

    def __post_init__(self) -> None:
        _optional_non_negative(self, "activation_cost_cny_per_mwh")
        count = self.charger_count
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidParameterError("charger_count", "type", f"must be an int, got {count!r}")
        if count <= 0:
            raise InvalidParameterError("charger_count", "positive", f"must be > 0, got {count}")
        power = _positive(self, "charger_power_kw")
        energy = _non_negative(self, "daily_energy_kwh")
        hours = _real(self, "plug_in_hours", 0.0, 24.0, rule="hours_range", low_open=True)
        _flag(self, "v2g")
        if energy > count * power * hours:
            raise InvalidParameterError(
                "daily_energy_kwh",
                "energy_feasible",
                "must not exceed charger_count × charger_power_kw × plug_in_hours",
            )

    def to_flexibility(self) -> GeneralisedBattery:
        """Baseline = even charging while plugged in; e = energy ahead of / behind that plan.

        Approximation: the fleet is one aggregate battery that may run up to half a day's
        energy ahead of or behind the even schedule (e in ±daily_energy/2); per-vehicle
        arrival/departure times are the forecast's business.
        """
        total = self.charger_count * self.charger_power_kw
        baseline = self.daily_energy_kwh / self.plug_in_hours
        half_day = self.daily_energy_kwh / 2
        return GeneralisedBattery(
            baseline_kw=baseline,
            p_min_kw=-total - baseline if self.v2g else -baseline,
            p_max_kw=total - baseline,
            e_min_kwh=-half_day,
            e_max_kwh=half_day,
        )


@dataclass(frozen=True, kw_only=True)
class PvParams:
    """Photovoltaic plant; only its curtailment is controllable."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "use_attribute_docstrings": True,
    }
    kind: ClassVar[AssetKind] = AssetKind.PV

    peak_kw: float
    """DC nameplate power (kWp, > 0)."""
    inverter_kw: float | None = None
    """AC inverter rating (kW, > 0); None = peak_kw."""
    curtailable: bool = True
    """Whether the VPP may curtail the output."""
    tilt_deg: float = 30.0
    """Panel tilt from horizontal (degrees, 0..90)."""
    azimuth_deg: float = 180.0
    """Panel azimuth clockwise from north (degrees, 0..360; 180 = south)."""

    activation_cost_cny_per_mwh: float | None = None
    """What the enterprise declares one MWh of activated flexibility costs it (CNY/MWh,
    >= 0): lost production, comfort, wear. None = the kind's default (`activation_cost_of`)."""

    def __post_init__(self) -> None:
        _optional_non_negative(self, "activation_cost_cny_per_mwh")
        peak = _positive(self, "peak_kw")
        if self.inverter_kw is None:
            object.__setattr__(self, "inverter_kw", peak)
        _positive(self, "inverter_kw")
        _flag(self, "curtailable")
        _real(self, "tilt_deg", 0.0, 90.0, rule="angle_range")
        _real(self, "azimuth_deg", 0.0, 360.0, rule="angle_range")

    @property
    def ac_capacity_kw(self) -> float:
        """Largest AC output (kW): min(peak_kw, inverter_kw)."""
        return min(self.peak_kw, _resolved(self.inverter_kw, self.peak_kw))

    def to_flexibility(self) -> GeneralisedBattery:
        """Baseline 0 (generation comes from forecasts); p in [0, AC capacity] if curtailable.

        Curtailing raises net load, so it is upward flexibility, rated here at the AC capacity;
        at any moment it is really limited to the forecast generation.
        """
        return GeneralisedBattery(
            baseline_kw=0.0,
            p_min_kw=0.0,
            p_max_kw=self.ac_capacity_kw if self.curtailable else 0.0,
        )


def _resolved(value: float | None, default: float) -> float:
    return default if value is None else value


AssetParams: TypeAlias = (
    BatteryParams | CurtailableLoadParams | ShiftableProcessParams | EvFleetParams | PvParams
)

PARAMS_BY_KIND: dict[AssetKind, type[AssetParams]] = {
    cls.kind: cls
    for cls in (
        BatteryParams,
        CurtailableLoadParams,
        ShiftableProcessParams,
        EvFleetParams,
        PvParams,
    )
}


# Default activation costs by kind (CNY/MWh of activated flexibility). Assumptions, not
# published figures: battery wear ~ 0.03 CNY/kWh cycled; EV charging shifted within the
# plug-in window costs little; a shiftable process pays for re-planning; curtailing a
# load costs production or comfort; curtailing PV costs nothing beyond the lost energy,
# which the optimiser already prices at the energy price.
DEFAULT_ACTIVATION_COST_CNY_PER_MWH: dict[AssetKind, float] = {
    AssetKind.BATTERY: 30.0,
    AssetKind.EV_FLEET: 20.0,
    AssetKind.SHIFTABLE_PROCESS: 60.0,
    AssetKind.CURTAILABLE_LOAD: 150.0,
    AssetKind.PV: 0.0,
}


def activation_cost_of(params: AssetParams) -> float:
    """Declared activation cost of an asset (CNY/MWh), or its kind's default."""
    declared = params.activation_cost_cny_per_mwh
    return DEFAULT_ACTIVATION_COST_CNY_PER_MWH[params.kind] if declared is None else declared


def flexibility_of(params: AssetParams) -> GeneralisedBattery:
    """The generalised-battery deviation model of an asset with these parameters."""
    return params.to_flexibility()


def parse_params(kind: AssetKind | str, mapping: Mapping[str, Any]) -> AssetParams:
    """Build the parameter dataclass of `kind` from a plain mapping (CLI, seeding, fixtures).

    Unknown keys raise rule "unknown_field", missing required ones rule "required"; values
    are converted only trivially (int -> float, str -> ProcessType) by the class itself.
    """
    try:
        asset_kind = AssetKind(kind)
    except ValueError:
        choices = ", ".join(AssetKind)
        raise InvalidParameterError(
            "kind", "enum", f"must be one of {choices}, got {kind!r}"
        ) from None
    cls = PARAMS_BY_KIND[asset_kind]
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    for key in mapping:
        if key not in names:
            raise InvalidParameterError(
                str(key), "unknown_field", f"is not a parameter of {asset_kind} assets"
            )
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in mapping:
            raise InvalidParameterError(f.name, "required", f"is required for {asset_kind} assets")
    return cls(**mapping)
