"""Hand-computed conversions of every carrier to canonical units, tce (GB/T 2589) and CO2."""

from __future__ import annotations

import pytest

from vpp.domain.errors import InvalidParameterError
from vpp.green.core.carriers import (
    Carrier,
    ElectricityBasis,
    FactorSet,
    co2_kg_of,
    parse_carrier,
    tce_of,
    to_canonical,
)

FACTORS = FactorSet()


def test_electricity_calorific_and_equivalent_values() -> None:
    # GB/T 2589-2020 Table A.1: 0.1229 kgce/kWh (当量值); 1,000 kWh -> 0.1229 tce.
    assert tce_of(Carrier.ELECTRICITY, 1000.0, FACTORS) == pytest.approx(0.1229)
    equivalent = FactorSet(
        electricity_basis=ElectricityBasis.EQUIVALENT, electricity_equivalent_kgce_per_kwh=0.305
    )
    assert tce_of(Carrier.ELECTRICITY, 1000.0, equivalent) == pytest.approx(0.305)
    # Grid electricity at the Northwest grid factor (0.5543 kg/kWh): 2 MWh -> 1,108.6 kg.
    assert co2_kg_of(Carrier.ELECTRICITY, 2000.0, FACTORS) == pytest.approx(1108.6)


def test_natural_gas() -> None:
    # 10,000 m3 x 1.3300 kgce/m3 = 13,300 kgce = 13.3 tce.
    assert tce_of(Carrier.NATURAL_GAS, 10_000.0, FACTORS) == pytest.approx(13.3)
    # 10,000 m3 x 2.1622 kg/m3 = 21,622 kg CO2.
    assert co2_kg_of(Carrier.NATURAL_GAS, 10_000.0, FACTORS) == pytest.approx(21_622.0)
    # The factor is the guideline defaults: 0.038931 GJ/m3 x 15.3 kg C/GJ x 0.99 x 44/12.
    derived = 0.038931 * 15.3 * 0.99 * 44 / 12
    assert FACTORS.carriers[Carrier.NATURAL_GAS].kg_co2_per_unit == pytest.approx(derived, abs=5e-5)


def test_heat_and_steam() -> None:
    # 100 GJ x 34.12 kgce/GJ = 3.412 tce; x 110 kg/GJ = 11,000 kg CO2.
    assert tce_of(Carrier.HEAT, 100.0, FACTORS) == pytest.approx(3.412)
    assert co2_kg_of(Carrier.HEAT, 100.0, FACTORS) == pytest.approx(11_000.0)
    # 1 Gcal = 4.1868 GJ -> 4.1868 x 0.03412 = 0.142854 tce.
    gj = to_canonical(Carrier.HEAT, 1.0, "Gcal")
    assert tce_of(Carrier.HEAT, gj, FACTORS) == pytest.approx(0.14285362)
    # 500 MJ = 0.5 GJ; 2 MWh of heat = 7.2 GJ.
    assert to_canonical(Carrier.HEAT, 500.0, "MJ") == pytest.approx(0.5)
    assert to_canonical(Carrier.HEAT, 2.0, "MWh") == pytest.approx(7.2)
    # 10 t of low-pressure steam: 10 x 0.1286 = 1.286 tce; 10 x 3.763 GJ x 110 = 4,139.3 kg.
    assert tce_of(Carrier.STEAM, 10.0, FACTORS) == pytest.approx(1.286)
    assert co2_kg_of(Carrier.STEAM, 10.0, FACTORS) == pytest.approx(4139.3)
    assert to_canonical(Carrier.STEAM, 2500.0, "kg") == pytest.approx(2.5)


def test_water_as_an_energy_consuming_medium() -> None:
    # GB/T 2589-2020 Table B.1: fresh water 0.2571 kgce/t; 1,000 m3 = 1,000 t -> 0.2571 tce.
    tonnes = to_canonical(Carrier.WATER, 1000.0, "m3")
    assert tce_of(Carrier.WATER, tonnes, FACTORS) == pytest.approx(0.2571)
    assert co2_kg_of(Carrier.WATER, tonnes, FACTORS) == 0.0


def test_hydrogen_output() -> None:
    # 119.96 MJ/kg / 29.3076 MJ/kgce = 4.093136 kgce/kg; 100 kg -> 0.4093136 tce.
    assert tce_of(Carrier.HYDROGEN, 100.0, FACTORS) == pytest.approx(0.4093136, rel=1e-6)
    assert FACTORS.carriers[Carrier.HYDROGEN].output
    # 1,000 Nm3 x 0.08988 kg/Nm3 = 89.88 kg.
    assert to_canonical(Carrier.HYDROGEN, 1000.0, "Nm3") == pytest.approx(89.88)


def test_bad_units_quantities_and_carriers_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="known_unit"):
        to_canonical(Carrier.ELECTRICITY, 1.0, "m3")
    with pytest.raises(InvalidParameterError, match="non_negative"):
        to_canonical(Carrier.WATER, -1.0, "t")
    with pytest.raises(InvalidParameterError, match="non_negative"):
        to_canonical(Carrier.WATER, float("nan"), "t")
    with pytest.raises(InvalidParameterError, match="known_commodity"):
        parse_carrier("coal")


def test_overrides_replace_one_factor_and_keep_the_rest() -> None:
    factors = FACTORS.with_overrides({"natural_gas": {"kgce_per_unit": 1.2143}})
    # Gas-field gas, 35,544 kJ/m3: 1.2143 kgce/m3; 1,000 m3 -> 1.2143 tce; CO2 unchanged.
    assert tce_of(Carrier.NATURAL_GAS, 1000.0, factors) == pytest.approx(1.2143)
    assert co2_kg_of(Carrier.NATURAL_GAS, 1000.0, factors) == pytest.approx(2162.2)
    with pytest.raises(InvalidParameterError, match="unknown_field"):
        FACTORS.with_overrides({"heat": {"kgce": 1.0}})
    with pytest.raises(InvalidParameterError, match="non_negative"):
        FactorSet(grid_kg_co2_per_kwh=-0.1)
