"""Energy carriers, their units, and conversion to tonnes of standard coal and to CO2.

Coefficients to standard coal (tce) follow GB/T 2589-2020《综合能耗计算通则》:

- 1 kgce is the amount of fuel with a net (low) calorific value of 29,307.6 kJ (the
  standard's definition of 标准煤, clause 3); a carrier not tabulated is converted by its
  net calorific value / 29,307.6 kJ.
- Table A.1 (各种能源折标准煤参考系数): electricity, calorific (当量值) 3,600 kJ/kWh ->
  0.1229 kgce/kWh; electricity, equivalent (等价值) = the previous year's national average
  coal consumption per kWh of thermal power supplied, as published; heat (当量值)
  0.03412 kgce/MJ = 34.12 kgce/GJ; low-pressure steam 3,763 MJ/t -> 0.1286 kgce/kg;
  natural gas 32,238-38,931 kJ/m3 -> 1.1000-1.3300 kgce/m3 (default here 38,931 kJ/m3,
  1.3300 kgce/m3, the same calorific value the CO2 factor below assumes).
- Table B.1 (耗能工质能源等价值): fresh water (新水) 0.2571 kgce/t.

The park KPI (单位能耗碳排放, t CO2 per tce) converts electricity with the calorific
value (当量值, the basis GB/T 2589-2020 uses for 综合能耗); the equivalent value can be chosen
instead (``ElectricityBasis.EQUIVALENT``), and every coefficient can be overridden.

CO2 factors (kg CO2 per canonical unit), all configurable:

- grid electricity: China's Northwest regional grid average, 0.5543 kg CO2/kWh for 2023,
  as reported of the MEE / NBS announcement on 2023 electricity CO2 emission factors
  (published January 2026; the 2022 value was 0.5857, announcement of 2024-12-20).
- natural gas: 2.1622 kg CO2/m3 = 38.931 GJ/10^3 m3 x 15.3 kg C/GJ x 99 % oxidation x 44/12,
  the national defaults of the NDRC GHG accounting guidelines for industrial enterprises
  (the IPCC 2006 default, 56,100 kg CO2/TJ, gives 2.184 kg/m3 at the same calorific value).
- purchased heat: 110 kg CO2/GJ (0.11 t CO2/GJ, the same guidelines' default);
  steam: 3.763 GJ/t x 110 = 413.93 kg CO2/t.
- water: 0 (its energy is the waterworks' electricity, a scope-3 emission);
  hydrogen: an energy *output* (electrolysis), deducted from the energy consumption at
  119.96 MJ/kg net calorific value -> 4.0931 kgce/kg, with no CO2 of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from vpp.domain.errors import InvalidParameterError

KJ_PER_KGCE = 29_307.6
"""GB/T 2589-2020: 1 kgce = 29,307.6 kJ net calorific value."""
KGCE_PER_TCE = 1000.0
KG_PER_T = 1000.0


class Carrier(StrEnum):
    """An energy carrier a site meters; each has one canonical unit (``CANONICAL_UNIT``)."""

    ELECTRICITY = "electricity"
    NATURAL_GAS = "natural_gas"
    HEAT = "heat"
    STEAM = "steam"
    WATER = "water"
    HYDROGEN = "hydrogen"


class ElectricityBasis(StrEnum):
    """GB/T 2589 Table A.1: calorific value (当量值) or equivalent value (等价值) of electricity."""

    CALORIFIC = "calorific"
    EQUIVALENT = "equivalent"


CANONICAL_UNIT: Mapping[Carrier, str] = MappingProxyType(
    {
        Carrier.ELECTRICITY: "kWh",
        Carrier.NATURAL_GAS: "m3",
        Carrier.HEAT: "GJ",
        Carrier.STEAM: "t",
        Carrier.WATER: "t",
        Carrier.HYDROGEN: "kg",
    }
)

HYDROGEN_KG_PER_NM3 = 0.08988
"""Density of hydrogen at 0 °C and 101.325 kPa (kg/Nm3)."""

UNITS: Mapping[Carrier, Mapping[str, float]] = MappingProxyType(
    {
        Carrier.ELECTRICITY: {"kWh": 1.0, "MWh": 1000.0, "Wh": 0.001},
        # Gas volumes are at standard conditions (m3 = Nm3 as billed).
        Carrier.NATURAL_GAS: {"m3": 1.0, "Nm3": 1.0, "km3": 1000.0},
        Carrier.HEAT: {"GJ": 1.0, "MJ": 0.001, "kWh": 0.0036, "MWh": 3.6, "Gcal": 4.1868},
        Carrier.STEAM: {"t": 1.0, "kg": 0.001},
        # Fresh water: 1 m3 = 1 t.
        Carrier.WATER: {"t": 1.0, "m3": 1.0, "kg": 0.001},
        Carrier.HYDROGEN: {"kg": 1.0, "t": 1000.0, "Nm3": HYDROGEN_KG_PER_NM3},
    }
)
"""Multipliers from each accepted unit to the carrier's canonical unit."""


def parse_carrier(name: str, field_name: str = "commodity") -> Carrier:
    """The carrier called ``name``; InvalidParameterError naming the accepted ones if unknown."""
    try:
        return Carrier(name)
    except ValueError:
        accepted = ", ".join(c.value for c in Carrier)
        raise InvalidParameterError(
            field_name, "known_commodity", f"must be one of {accepted}, got {name!r}"
        ) from None


def to_canonical(carrier: Carrier, quantity: float, unit: str, field_name: str = "unit") -> float:
    """``quantity`` in ``unit`` converted to the carrier's canonical unit (``CANONICAL_UNIT``).

    Refuses a unit the carrier does not accept (e.g. m3 of electricity) and a negative or
    non-finite quantity: meters report what was consumed (or, for hydrogen, produced).
    """
    units = UNITS[carrier]
    if unit not in units:
        raise InvalidParameterError(
            field_name,
            "known_unit",
            f"must be one of {', '.join(units)} for {carrier.value}, got {unit!r}",
        )
    if not np.isfinite(quantity) or quantity < 0:
        raise InvalidParameterError("quantity", "non_negative", f"must be >= 0, got {quantity}")
    return float(quantity) * units[unit]


@dataclass(frozen=True)
class CarrierFactor:
    """How one canonical unit of a carrier counts: kgce, kg CO2, and input or output."""

    kgce_per_unit: float
    """Standard coal per canonical unit (kgce)."""
    kg_co2_per_unit: float
    """CO2 emitted per canonical unit consumed (kg); electricity uses the grid factor."""
    output: bool = False
    """An energy output of the boundary (deducted from the consumption, GB/T 2589)."""
    source: str = ""


DEFAULT_CARRIER_FACTORS: Mapping[Carrier, CarrierFactor] = MappingProxyType(
    {
        Carrier.ELECTRICITY: CarrierFactor(
            0.1229, 0.0, source="GB/T 2589-2020 Table A.1, electricity (calorific value)"
        ),
        Carrier.NATURAL_GAS: CarrierFactor(
            1.3300,
            2.1622,
            source="GB/T 2589-2020 Table A.1 (38,931 kJ/m3); CO2 per NDRC GHG guideline "
            "defaults (15.3 kg C/GJ, 99 % oxidised)",
        ),
        Carrier.HEAT: CarrierFactor(
            34.12, 110.0, source="GB/T 2589-2020 Table A.1 (0.03412 kgce/MJ); 0.11 t CO2/GJ"
        ),
        Carrier.STEAM: CarrierFactor(
            128.6,
            413.93,
            source="GB/T 2589-2020 Table A.1, low-pressure steam 3,763 MJ/t; "
            "3.763 GJ/t x 0.11 t CO2/GJ",
        ),
        Carrier.WATER: CarrierFactor(
            0.2571, 0.0, source="GB/T 2589-2020 Table B.1, fresh water (energy-consuming medium)"
        ),
        Carrier.HYDROGEN: CarrierFactor(
            119_960.0 / KJ_PER_KGCE,
            0.0,
            output=True,
            source="net calorific value 119.96 MJ/kg / 29,307.6 kJ/kgce (GB/T 2589-2020 clause 3)",
        ),
    }
)

NORTHWEST_GRID_KG_CO2_PER_KWH = 0.5543
"""Northwest China regional grid, 2023, as reported of the MEE / NBS announcement (2026-01)."""
ELECTRICITY_EQUIVALENT_KGCE_PER_KWH = 0.300
"""About 300 gce/kWh, the national average coal use per kWh of thermal power supplied in
recent years; set ``VPP_GREEN_ELECTRICITY_EQUIVALENT_KGCE_PER_KWH`` to the published value
of the previous year (GB/T 2589-2020 Table A.1, 等价值)."""


@dataclass(frozen=True)
class FactorSet:
    """Every conversion factor of one report; build it once from the settings."""

    grid_kg_co2_per_kwh: float = NORTHWEST_GRID_KG_CO2_PER_KWH
    electricity_basis: ElectricityBasis = ElectricityBasis.CALORIFIC
    electricity_equivalent_kgce_per_kwh: float = ELECTRICITY_EQUIVALENT_KGCE_PER_KWH
    carriers: Mapping[Carrier, CarrierFactor] = field(
        default_factory=lambda: DEFAULT_CARRIER_FACTORS
    )

    def __post_init__(self) -> None:
        numbers = {
            "grid_kg_co2_per_kwh": self.grid_kg_co2_per_kwh,
            "electricity_equivalent_kgce_per_kwh": self.electricity_equivalent_kgce_per_kwh,
        }
        for carrier, factor in self.carriers.items():
            numbers[f"{carrier.value}.kgce_per_unit"] = factor.kgce_per_unit
            numbers[f"{carrier.value}.kg_co2_per_unit"] = factor.kg_co2_per_unit
        for name, value in numbers.items():
            if not np.isfinite(value) or value < 0:
                raise InvalidParameterError(name, "non_negative", f"must be >= 0, got {value}")
        missing = set(Carrier) - set(self.carriers)
        if missing:
            raise InvalidParameterError(
                "carriers", "required", f"no factor for {sorted(c.value for c in missing)}"
            )

    @property
    def electricity_kgce_per_kwh(self) -> float:
        """kgce per kWh of electricity on the chosen basis."""
        if self.electricity_basis is ElectricityBasis.EQUIVALENT:
            return self.electricity_equivalent_kgce_per_kwh
        return self.carriers[Carrier.ELECTRICITY].kgce_per_unit

    def kgce_per_unit(self, carrier: Carrier) -> float:
        """kgce per canonical unit of ``carrier`` (electricity on the chosen basis)."""
        if carrier is Carrier.ELECTRICITY:
            return self.electricity_kgce_per_kwh
        return self.carriers[carrier].kgce_per_unit

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float]]) -> FactorSet:
        """A copy with carrier factors replaced: ``{"natural_gas": {"kgce_per_unit": 1.2143}}``."""
        carriers = dict(self.carriers)
        for name, values in overrides.items():
            carrier = parse_carrier(name, "carrier")
            unknown = set(values) - {"kgce_per_unit", "kg_co2_per_unit"}
            if unknown:
                raise InvalidParameterError(
                    name, "unknown_field", f"has unknown factor(s) {sorted(unknown)}"
                )
            current = carriers[carrier]
            carriers[carrier] = CarrierFactor(
                kgce_per_unit=float(values.get("kgce_per_unit", current.kgce_per_unit)),
                kg_co2_per_unit=float(values.get("kg_co2_per_unit", current.kg_co2_per_unit)),
                output=current.output,
                source="configured",
            )
        return replace(self, carriers=MappingProxyType(carriers))


def tce_of(
    carrier: Carrier, quantity: float | npt.NDArray[np.float64], factors: FactorSet
) -> float | npt.NDArray[np.float64]:
    """Tonnes of standard coal of ``quantity`` canonical units of ``carrier`` (>= 0; an output
    carrier's tce is deducted by the ledger, not negated here)."""
    return quantity * factors.kgce_per_unit(carrier) / KGCE_PER_TCE


def co2_kg_of(
    carrier: Carrier, quantity: float | npt.NDArray[np.float64], factors: FactorSet
) -> float | npt.NDArray[np.float64]:
    """kg CO2 of consuming ``quantity`` canonical units of ``carrier``.

    Electricity here is grid electricity at the grid factor; the ledger applies it only to
    the part not matched with on-site PV or certified green power.
    """
    if carrier is Carrier.ELECTRICITY:
        return quantity * factors.grid_kg_co2_per_kwh
    return quantity * factors.carriers[carrier].kg_co2_per_unit
