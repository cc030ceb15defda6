"""End to end: a simulated month of three enterprises -> the park's green-power and
carbon report with every carrier, and CSV exports read back and re-totalled.

The month (November 2026, 2,880 intervals) is built so every number is hand-computable:

- A (green hydrogen): electrolyzer 1,000 kW all month; PV 800 kW from 10:00 to 16:00
  Beijing time; a 300 MWh green-power contract spread evenly (104.1667 kWh/interval) with
  250 GECs; 400 kg of hydrogen out and 30 m3 of water a day; a valley-fill plan on 2 Nov.
- B (building materials): kiln 600 kW; 2,000 Nm3 of gas and 50,000 MJ of heat a day.
- C (logistics): a 40 kW load and 400 kW of PV at midday; 5 t of steam a day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller
from tests.green.conftest import (
    MONTH_START,
    PV_HOURS,
    add_plan,
    add_site,
    gec,
    push_telemetry,
)

GRID = 0.5543  # kg CO2/kWh, Northwest grid (default)
ELEC_KGCE = 0.1229
H2_KGCE = 119_960 / 29_307.6


def in_pv_hours(k: int) -> bool:
    return (k // 4) % 24 in PV_HOURS


def daily(site: object, commodity: str, quantity: float, unit: str) -> list[dict[str, object]]:
    return [
        {
            "site_id": str(site),
            "commodity": commodity,
            "ts": (MONTH_START + timedelta(days=d)).isoformat(),
            "quantity": quantity,
            "unit": unit,
        }
        for d in range(30)
    ]


@pytest.fixture
def park(
    client: TestClient,
    session_factory: sessionmaker[Session],
    make_caller: Callable[..., Caller],
    operator: Caller,
) -> dict[str, Caller]:
    a = make_caller("enterprise", "A Hydrogen")
    b = make_caller("enterprise", "B Materials")
    c = make_caller("enterprise", "C Logistics")
    site_a = add_site(session_factory, a, {"electrolyzer": "shiftable_process", "pv": "pv"})
    site_b = add_site(session_factory, b, {"kiln": "shiftable_process"})
    site_c = add_site(session_factory, c, {"load": "curtailable_load", "pv": "pv"})

    def electrolyzer(k: int) -> float:
        # 2 Nov, 11:00-12:00 Beijing (intervals 44-47 of day 2): +200 kW of valley filling.
        return 1200.0 if 96 + 44 <= k < 96 + 48 else 1000.0

    push_telemetry(session_factory, site_a.assets["electrolyzer"], electrolyzer)
    push_telemetry(session_factory, site_a.assets["pv"], lambda k: -800.0 * in_pv_hours(k))
    push_telemetry(session_factory, site_b.assets["kiln"], lambda k: 600.0)
    push_telemetry(session_factory, site_c.assets["load"], lambda k: 40.0)
    push_telemetry(session_factory, site_c.assets["pv"], lambda k: -400.0 * in_pv_hours(k))
    add_plan(
        session_factory,
        a,
        site_a.assets["electrolyzer"],
        date(2026, 11, 2),
        range(44, 48),
        1000,
        200,
    )

    for caller, readings in (
        (
            a,
            daily(site_a.site_id, "hydrogen", 400.0, "kg")
            + daily(site_a.site_id, "water", 30, "m3"),
        ),
        (
            b,
            daily(site_b.site_id, "natural_gas", 2000.0, "Nm3")
            + daily(site_b.site_id, "heat", 50_000.0, "MJ"),
        ),
        (c, daily(site_c.site_id, "steam", 5.0, "t")),
    ):
        response = client.post(
            "/v1/meters/readings", json={"readings": readings}, headers=caller.headers
        )
        assert response.json() == {"accepted": len(readings), "duplicates": 0}

    contract = {
        "account_id": str(a.account_id),
        "reference": "GP-2026-11-A",
        "delivery_start": "2026-11-01T00:00:00+08:00",
        "delivery_end": "2026-12-01T00:00:00+08:00",
        "energy_mwh": 300.0,
        "production_month": "2026-11",
        "gec_ids": [gec(n) for n in range(250)],
    }
    response = client.post("/v1/green/contracts", json=contract, headers=operator.headers)
    assert response.status_code == 201, response.text
    return {"A": a, "B": b, "C": c}


@pytest.mark.slow
def test_a_month_of_the_park(client: TestClient, park: dict[str, Caller], operator: Caller) -> None:
    response = client.get("/v1/green/report", params={"month": "2026-11"}, headers=operator.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    by_name = {e["name"]: e for e in report["enterprises"]}
    a, b, c, p = (
        by_name["A Hydrogen"],
        by_name["B Materials"],
        by_name["C Logistics"],
        report["park"],
    )

    # A: 1,000 kW x 720 h = 720,000 kWh (+ 200 kWh of valley filling on 2 Nov); PV
    # 800 kW x 6 h x 30 d = 144,000 kWh, all consumed on site.
    load_a = 720_000.0 + 200.0
    assert a["matching_15min"]["load_kwh"] == pytest.approx(load_a)
    assert a["matching_15min"]["pv_self_kwh"] == pytest.approx(144_000.0)
    assert a["matching_15min"]["self_consumption_share"] == pytest.approx(1.0)
    # Contract 104.1667 kWh/interval matches grid import of 50 kWh in PV hours (plus the
    # 50 kWh of extra load in 4 of them) and in full otherwise:
    # 720 x 50 + 4 x 50 + 2,160 x 104.1667 = 261,200 kWh, of which the 250 GECs prove 250 MWh.
    assert a["matching_15min"]["contract_matched_kwh"] == pytest.approx(261_200.0)
    assert a["matching_15min"]["contract_green_kwh"] == pytest.approx(250_000.0)
    assert len(a["certificates_used"]) == 250
    assert a["matching_15min"]["green_share"] == pytest.approx(394_000 / load_a)
    residual_a = load_a - 394_000.0
    rows_a = {r["carrier"]: r for r in a["carriers"]}
    assert rows_a["electricity"]["co2_kg"] == pytest.approx(residual_a * GRID)
    assert rows_a["hydrogen"]["quantity"] == pytest.approx(12_000.0)
    assert rows_a["hydrogen"]["tce"] == pytest.approx(-12_000 * H2_KGCE / 1000)
    assert rows_a["water"]["tce"] == pytest.approx(900 * 0.2571 / 1000)
    # Valley filling: 200 kW for 4 intervals = 200 kWh at 0.5543 kg/kWh avoided.
    assert a["shifting"]["valley_fill_kwh"] == pytest.approx(200.0)
    assert a["shifting"]["avoided_co2_kg"] == pytest.approx(200 * GRID)

    # B: 600 kW x 720 h; 60,000 m3 of gas; 1,500 GJ of heat.
    rows_b = {r["carrier"]: r for r in b["carriers"]}
    assert rows_b["electricity"]["co2_kg"] == pytest.approx(432_000 * GRID)
    assert (rows_b["natural_gas"]["tce"], rows_b["natural_gas"]["co2_kg"]) == pytest.approx(
        (79.8, 129_732.0)
    )
    assert (rows_b["heat"]["quantity"], rows_b["heat"]["tce"]) == pytest.approx((1500.0, 51.18))
    assert b["matching_15min"]["green_share"] == 0.0

    # C: 40 kW load, 400 kW PV at midday: 7,200 of 72,000 kWh consumed (10 % < 60 %).
    assert c["matching_15min"]["self_consumption_share"] == pytest.approx(0.1)
    assert c["direct_supply_self_consumption_met"] is False
    rows_c = {r["carrier"]: r for r in c["carriers"]}
    assert rows_c["steam"]["co2_kg"] == pytest.approx(150 * 413.93)

    # Park: PV 300 kW-equivalent per interval at midday all consumed within the park.
    load_park = load_a + 432_000 + 28_800
    green_park = 216_000 + 250_000
    assert p["matching_15min"]["green_share"] == pytest.approx(green_park / load_park)
    assert p["matching_15min"]["self_consumption_share"] == pytest.approx(1.0)
    co2_park = (load_park - green_park) * GRID + 129_732 + 165_000 + 150 * 413.93
    tce_park = (
        load_park * ELEC_KGCE / 1000
        + 79.8
        + 51.18
        + 150 * 0.1286
        + 900 * 0.2571 / 1000
        - 12_000 * H2_KGCE / 1000
    )
    assert p["co2_kg"] == pytest.approx(co2_park)
    assert p["energy_tce"] == pytest.approx(tce_park)
    assert p["intensity_t_co2_per_tce"] == pytest.approx(co2_park / 1000 / tce_park)
    assert p["shifting"]["avoided_co2_kg"] == pytest.approx(200 * GRID)
    gross_park = tce_park + 12_000 * H2_KGCE / 1000
    clean = green_park * ELEC_KGCE / 1000 / gross_park
    assert p["clean_share"] == pytest.approx(clean)
    assert report["targets"]["park_clean_share_gap"] == pytest.approx(0.8 - clean)

    # The CSV, read back: every scope's carrier rows add up to its total row, and the
    # park's quantities and tce are the enterprises' sums.
    text = client.get(
        "/v1/green/report.csv", params={"month": "2026-11"}, headers=operator.headers
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    scopes = {r["scope"] for r in rows}
    assert len(scopes) == 4 and "park" in scopes
    for scope in scopes:
        own = [r for r in rows if r["scope"] == scope]
        total = next(r for r in own if r["carrier"] == "total")
        carriers = [r for r in own if r["carrier"] != "total"]
        assert len(carriers) == 6
        assert sum(float(r["tce"]) for r in carriers) == pytest.approx(float(total["tce"]))
        assert sum(float(r["co2_kg"]) for r in carriers) == pytest.approx(float(total["co2_kg"]))
    for carrier in ("electricity", "natural_gas", "heat", "steam", "water", "hydrogen"):
        members = [r for r in rows if r["carrier"] == carrier and r["scope"] != "park"]
        park_row = next(r for r in rows if r["carrier"] == carrier and r["scope"] == "park")
        assert sum(float(r["quantity"]) for r in members) == pytest.approx(
            float(park_row["quantity"])
        )
        assert sum(float(r["tce"]) for r in members) == pytest.approx(float(park_row["tce"]))
    park_total = next(r for r in rows if r["scope"] == "park" and r["carrier"] == "total")
    assert float(park_total["co2_kg"]) == pytest.approx(co2_park)
    assert float(park_total["intensity_t_co2_per_tce"]) == pytest.approx(co2_park / 1000 / tce_park)

    # A's footprint export re-totals to its report.
    footprint = client.get(
        "/v1/green/footprint.csv", params={"month": "2026-11"}, headers=park["A"].headers
    ).text
    items = list(csv.DictReader(io.StringIO(footprint)))
    assert {r["item"] for r in items} >= {"electricity_onsite_pv", "electricity_grid", "hydrogen"}
    assert sum(float(r["co2_kg"]) for r in items) == pytest.approx(a["co2_kg"])
    assert sum(float(r["tce"]) for r in items) == pytest.approx(a["energy_tce"])
    electricity = [r for r in items if r["item"].startswith("electricity")]
    assert sum(float(r["quantity"]) for r in electricity) == pytest.approx(load_a)


def test_claimed_certificates_are_used_once(
    client: TestClient, park: dict[str, Caller], operator: Caller
) -> None:
    claim = client.post("/v1/green/claims", json={"month": "2026-11"}, headers=operator.headers)
    assert claim.json() == {"month": "2026-11-01", "claimed": 250, "already_claimed": 0}
    again = client.post("/v1/green/claims", json={"month": "2026-11"}, headers=operator.headers)
    assert again.json()["claimed"] == 0 and again.json()["already_claimed"] == 250
    # December has no telemetry and the GECs are used for November: none count there.
    december = client.get(
        "/v1/green/report", params={"month": "2026-12"}, headers=park["A"].headers
    ).json()
    assert december["enterprises"][0]["certificates_used"] == []
    listed = client.get(
        "/v1/green/certificates", params={"limit": 1000}, headers=park["A"].headers
    ).json()
    assert {c["claimed_month"] for c in listed["items"]} == {"2026-11-01"}
