"""Hand-computed matching of load with on-site PV and contracted green power."""

from __future__ import annotations

import pandas as pd
import pytest

from vpp.domain.errors import InvalidParameterError
from vpp.green.core.matching import Resolution, flat_profile, match_periods, totals

START = pd.Timestamp("2026-11-02T02:00:00Z")  # 10:00 Beijing time


def hour(scope: str, load: list[float], pv: list[float], contract: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scope": scope,
            "ts": pd.date_range(START, periods=4, freq="15min"),
            "load_kwh": load,
            "pv_kwh": pv,
            "contract_kwh": contract,
        }
    )


def test_quarter_hour_and_hourly_matching() -> None:
    frame = hour("A", [10, 10, 10, 10], [20, 0, 0, 0], [0, 5, 5, 5])
    cap = pd.Series({"A": 1000.0})
    quarter = totals(match_periods(frame, Resolution.QUARTER_HOUR), cap)["A"]
    # PV 20 kWh in the first quarter: 10 consumed, 10 exported; the grid supplies 30,
    # of which contracts cover 15.
    assert (quarter.pv_self_kwh, quarter.pv_export_kwh) == (10.0, 10.0)
    assert (quarter.grid_import_kwh, quarter.contract_matched_kwh) == (30.0, 15.0)
    assert quarter.green_kwh == 25.0 and quarter.grid_residual_kwh == 15.0
    assert quarter.green_share == pytest.approx(25 / 40)
    assert quarter.self_consumption_share == pytest.approx(0.5)
    # Over the hour the PV surplus covers the later quarters: 20 self, grid 20, contracts 15.
    hourly = totals(match_periods(frame, Resolution.HOUR), cap)["A"]
    assert (hourly.pv_self_kwh, hourly.grid_import_kwh, hourly.contract_green_kwh) == (20, 20, 15)
    assert hourly.green_share == pytest.approx(35 / 40)
    assert hourly.self_consumption_share == pytest.approx(1.0)


def test_certificates_cap_contracted_green_power() -> None:
    frame = hour("A", [10, 10, 10, 10], [20, 0, 0, 0], [0, 5, 5, 5])
    capped = totals(match_periods(frame, Resolution.QUARTER_HOUR), pd.Series({"A": 10.0}))["A"]
    assert capped.contract_green_kwh == 10.0 and capped.green_kwh == 20.0
    none = totals(match_periods(frame, Resolution.QUARTER_HOUR), pd.Series(dtype=float))["A"]
    assert none.contract_green_kwh == 0.0 and none.grid_residual_kwh == 30.0


def test_contracts_do_not_cover_consumption_of_another_period() -> None:
    frame = hour("A", [0, 0, 8, 8], [0, 0, 0, 0], [10, 10, 0, 0])
    quarter = totals(match_periods(frame, Resolution.QUARTER_HOUR), pd.Series({"A": 1e6}))["A"]
    assert quarter.contract_green_kwh == 0.0
    hourly = totals(match_periods(frame, Resolution.HOUR), pd.Series({"A": 1e6}))["A"]
    assert hourly.contract_green_kwh == 16.0


def test_no_load_or_no_pv_leaves_shares_undefined() -> None:
    frame = hour("A", [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0])
    result = totals(match_periods(frame, Resolution.QUARTER_HOUR), pd.Series(dtype=float))["A"]
    assert result.green_share is None and result.self_consumption_share is None


def test_negative_energy_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="non_negative"):
        match_periods(hour("A", [-1, 0, 0, 0], [0] * 4, [0] * 4), Resolution.HOUR)


def test_flat_profile_spreads_a_contract_over_its_intervals() -> None:
    window = pd.date_range(START, periods=8, freq="15min")
    profile = flat_profile(
        START + pd.Timedelta(hours=1), START + pd.Timedelta(hours=3), 80.0, window
    )
    # 8 intervals of 10 kWh, of which the window holds the first 4.
    assert profile.tolist() == [0, 0, 0, 0, 10, 10, 10, 10]
