"""Forecast and flexibility routes over stored telemetry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Caller, create_battery, create_site

DAY = "2026-11-25"
DAY_START = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 00:00 Beijing


@pytest.fixture
def load(client: TestClient, enterprise: Caller) -> dict[str, Any]:
    site = create_site(client, enterprise)
    body = {
        "site_id": site["id"],
        "name": "Process cooling",
        "kind": "curtailable_load",
        "params": {"nominal_kw": 800, "min_kw": 500, "max_kw": 900},
    }
    response = client.post("/v1/assets", json=body, headers=enterprise.headers)
    assert response.status_code == 201
    asset: dict[str, Any] = response.json()
    return asset


def push_history(client: TestClient, caller: Caller, asset_id: str, days: int) -> None:
    """``days`` days of 15-minute readings before DAY: 700 kW at night, 900 kW by day."""
    readings = []
    for k in range(days * 96):
        ts = DAY_START - timedelta(minutes=15 * (days * 96 - k))
        local_hour = (ts + timedelta(hours=8)).hour
        power = 900.0 if 8 <= local_hour < 20 else 700.0
        readings.append({"asset_id": asset_id, "ts": ts.isoformat(), "power_kw": power})
    for start in range(0, len(readings), 1000):
        response = client.post(
            "/v1/telemetry",
            json={"readings": readings[start : start + 1000]},
            headers=caller.headers,
        )
        assert response.status_code == 200, response.text


def forecast_of(client: TestClient, caller: Caller, asset_id: str) -> dict[str, Any]:
    """The asset's forecast for DAY, as ``caller`` reads it (200 asserted)."""
    response = client.get(
        f"/v1/assets/{asset_id}/forecast", params={"day": DAY}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_forecast_follows_the_history_and_bounds_flexibility(
    client: TestClient, enterprise: Caller, load: dict[str, Any]
) -> None:
    push_history(client, enterprise, load["id"], 28)
    body = forecast_of(client, enterprise, load["id"])
    assert body["confidence"] in ("ok", "low")
    intervals = body["intervals"]
    assert len(intervals) == 96
    assert intervals[0]["start"] == "2026-11-24T16:00:00Z"
    night, noon = intervals[8], intervals[48]  # 02:00 and 12:00 Beijing
    assert night["baseline_kw"] == pytest.approx(700, abs=30)
    assert noon["baseline_kw"] == pytest.approx(900, abs=30)
    assert night["p10_kw"] <= night["p50_kw"] <= night["p90_kw"]
    # The load can go down to 500 kW and up to 900 kW around its baseline.
    assert noon["down_kw"] == pytest.approx(noon["p50_kw"] - 500, abs=1)
    assert night["up_kw"] == pytest.approx(900 - night["p50_kw"], abs=1)


def test_without_history_the_forecast_says_so(
    client: TestClient, enterprise: Caller, load: dict[str, Any]
) -> None:
    body = forecast_of(client, enterprise, load["id"])
    assert body["confidence"] == "none"
    assert all(iv["baseline_kw"] is None for iv in body["intervals"])


def test_a_thin_history_is_flagged_with_its_reason(
    client: TestClient, enterprise: Caller, load: dict[str, Any]
) -> None:
    push_history(client, enterprise, load["id"], 5)
    body = forecast_of(client, enterprise, load["id"])
    assert body["confidence"] == "low"
    assert "confidence low: only 4 complete day(s) of history (< 14)" in body["quality_notes"]


def test_pool_flexibility_sums_the_envelopes(
    client: TestClient, enterprise: Caller, operator: Caller, load: dict[str, Any]
) -> None:
    push_history(client, enterprise, load["id"], 14)
    battery = create_battery(client, enterprise, load["site_id"])
    own = forecast_of(client, enterprise, str(battery["id"]))
    cooling = forecast_of(client, enterprise, load["id"])
    pool = client.get("/v1/pool/flexibility", params={"day": DAY}, headers=operator.headers).json()
    assert pool["assets"] == 2
    for i in (0, 40, 95):
        expected_up = own["intervals"][i]["up_kw"] + cooling["intervals"][i]["up_kw"]
        assert pool["intervals"][i]["up_kw"] == pytest.approx(expected_up, abs=0.01)
        assert pool["intervals"][i]["up_call_kw"] >= pool["intervals"][i]["up_kw"] - 1e-6


def test_bad_day_is_a_problem(client: TestClient, enterprise: Caller, load: dict[str, Any]) -> None:
    response = client.get(
        f"/v1/assets/{load['id']}/forecast",
        params={"day": "25/11/2026"},
        headers=enterprise.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "day"
