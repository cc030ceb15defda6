"""A hand-computed month ledger: every carrier, intensity, clean share, park netting, shifting."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from vpp.green.core.carriers import FactorSet
from vpp.green.core.ledger import Targets, build_report, shifted_energy

NOV = date(2026, 11, 1)
START = pd.Timestamp("2026-11-02T02:00:00Z")  # 10:00 Beijing time
NO_SHIFTS = pd.DataFrame(columns=["scope", "ts", "baseline_kw", "measured_kw", "deviation_kw"])


def intervals(
    scope: str, load: list[float], pv: list[float], contract: list[float]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scope": scope,
            "ts": pd.date_range(START, periods=len(load), freq="15min"),
            "load_kwh": load,
            "pv_kwh": pv,
            "contract_kwh": contract,
        }
    )


def test_one_enterprise_with_every_carrier() -> None:
    frame = intervals("A", [10, 10, 10, 10], [20, 0, 0, 0], [0, 5, 5, 5])
    quantities = pd.DataFrame(
        {
            "scope": ["A", "A", "A", "A", "A"],
            "carrier": ["natural_gas", "heat", "hydrogen", "water", "steam"],
            "quantity": [100.0, 10.0, 10.0, 100.0, 1.0],
        }
    )
    report = build_report(NOV, frame, quantities, {"A": 1000.0}, NO_SHIFTS, FactorSet(), Targets())
    a = report.scopes["A"]
    rows = {r.carrier: r for r in a.carriers}
    # Electricity: 40 kWh consumed x 0.1229 kgce = 0.004916 tce; the grid residual after
    # 10 kWh of PV and 15 kWh of certified contracts is 15 kWh x 0.5543 = 8.3145 kg CO2.
    assert rows["electricity"].quantity == 40.0
    assert rows["electricity"].tce == pytest.approx(0.004916)
    assert rows["electricity"].co2_kg == pytest.approx(8.3145)
    # Gas 100 m3: 0.133 tce, 216.22 kg. Heat 10 GJ: 0.3412 tce, 1,100 kg. Steam 1 t:
    # 0.1286 tce, 413.93 kg. Water 100 t: 0.02571 tce. Hydrogen 10 kg out: -0.04093136 tce.
    assert (rows["natural_gas"].tce, rows["natural_gas"].co2_kg) == pytest.approx((0.133, 216.22))
    assert (rows["heat"].tce, rows["heat"].co2_kg) == pytest.approx((0.3412, 1100.0))
    assert (rows["steam"].tce, rows["steam"].co2_kg) == pytest.approx((0.1286, 413.93))
    assert (rows["water"].tce, rows["water"].co2_kg) == pytest.approx((0.02571, 0.0))
    assert (rows["hydrogen"].tce, rows["hydrogen"].co2_kg) == pytest.approx((-0.04093136, 0.0))
    gross = 0.004916 + 0.133 + 0.3412 + 0.1286 + 0.02571
    net = gross - 0.04093136
    co2 = 8.3145 + 216.22 + 1100.0 + 413.93
    assert a.gross_energy_tce == pytest.approx(gross)
    assert a.energy_tce == pytest.approx(net)
    assert a.co2_kg == pytest.approx(co2)
    assert a.intensity_t_co2_per_tce == pytest.approx(co2 / 1000 / net)
    # Clean: 25 kWh of green electricity x 0.1229 kgce = 0.0030725 tce of the gross tce.
    assert a.clean_share == pytest.approx(0.0030725 / gross)
    assert a.direct_supply_rule_met is False  # half the PV exported in 15-min matching
    # One enterprise: the park is the same.
    assert report.park.energy_tce == pytest.approx(net)
    assert report.park.co2_kg == pytest.approx(co2)
    assert report.park.matching.green_kwh == pytest.approx(25.0)


def test_the_park_nets_pv_across_enterprises() -> None:
    frame = pd.concat([intervals("A", [0.0], [10.0], [0.0]), intervals("B", [10.0], [0.0], [0.0])])
    empty = pd.DataFrame(columns=["scope", "carrier", "quantity"])
    report = build_report(NOV, frame, empty, {}, NO_SHIFTS, FactorSet(), Targets())
    assert report.scopes["A"].matching.self_consumption_share == 0.0
    assert report.scopes["B"].matching.green_share == 0.0
    assert report.scopes["B"].co2_kg == pytest.approx(5.543)
    assert report.park.matching.green_share == 1.0
    assert report.park.co2_kg == 0.0
    assert report.park.clean_share == 1.0
    assert report.park.direct_supply_rule_met is True


def test_park_contracts_never_exceed_what_members_certified() -> None:
    frame = pd.concat(
        [intervals("A", [10.0], [0.0], [10.0]), intervals("B", [10.0], [0.0], [10.0])]
    )
    empty = pd.DataFrame(columns=["scope", "carrier", "quantity"])
    report = build_report(NOV, frame, empty, {"A": 1000.0}, NO_SHIFTS, FactorSet(), Targets())
    assert report.scopes["A"].matching.contract_green_kwh == 10.0
    assert report.scopes["B"].matching.contract_green_kwh == 0.0  # no certificates
    assert report.park.matching.contract_green_kwh == 10.0


def test_natural_gas_counts_as_clean_only_if_configured() -> None:
    frame = intervals("A", [1000.0], [0.0], [0.0])
    gas = pd.DataFrame({"scope": ["A"], "carrier": ["natural_gas"], "quantity": [100.0]})
    strict = build_report(NOV, frame, gas, {}, NO_SHIFTS, FactorSet(), Targets())
    assert strict.park.clean_share == 0.0
    loose = build_report(
        NOV, frame, gas, {}, NO_SHIFTS, FactorSet(), Targets(clean_includes_natural_gas=True)
    )
    # 0.133 tce of gas over 0.1229 + 0.133 tce.
    assert loose.park.clean_share == pytest.approx(0.133 / (0.1229 + 0.133))


def test_avoided_emissions_of_load_shifting() -> None:
    utc = pd.to_datetime(
        ["2026-11-02T03:00Z", "2026-11-02T04:00Z", "2026-11-02T12:00Z", "2026-11-02T19:00Z"]
    )
    shifts = pd.DataFrame(
        {
            "scope": ["A", "A", "A", "A"],
            "ts": utc,  # Beijing 11:00, 12:00 (curtailment), 20:00 (peak), 03:00 (night)
            "baseline_kw": [50.0, 50.0, 100.0, 50.0],
            "measured_kw": [180.0, 120.0, 50.0, 150.0],
            "deviation_kw": [100.0, 100.0, -40.0, 100.0],
        }
    )
    out = shifted_energy(shifts, range(10, 16), range(18, 22), 0.5543)["A"]
    # Valley fill: min(130, 100) kW + min(70, 100) kW for 15 min = 25 + 17.5 kWh; the night
    # raise is outside the curtailment hours. Peak cut: min(50, 40) kW x 0.25 h = 10 kWh.
    assert out.valley_fill_kwh == pytest.approx(42.5)
    assert out.peak_cut_kwh == pytest.approx(10.0)
    assert out.avoided_co2_kg == pytest.approx(42.5 * 0.5543)
