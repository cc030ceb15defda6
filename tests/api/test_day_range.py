"""Days and months outside the represented range are a 422 problem naming the field and
the rule on every route that reads them (found by the hostile-input fuzzing, where they
were 500s: pandas and datetime overflowed)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Caller, create_battery, create_site


def assert_range_problem(response: httpx.Response, field: str, rule: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == (field, rule), response.text


@pytest.mark.parametrize("day", ["2263-01-01", "0001-01-01", "9999-12-31"])
def test_dispatch_tracking_and_forecast_refuse_days_out_of_range(
    client: TestClient, operator: Caller, enterprise: Caller, day: str
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    tracking = client.get("/v1/dispatch/tracking", params={"day": day}, headers=operator.headers)
    assert_range_problem(tracking, "day", "day_range")
    forecast = client.get(
        f"/v1/assets/{asset['id']}/forecast", params={"day": day}, headers=enterprise.headers
    )
    assert_range_problem(forecast, "day", "day_range")


@pytest.mark.parametrize(
    "path", ["/v1/green/report", "/v1/green/report.csv", "/v1/green/footprint.csv"]
)
@pytest.mark.parametrize("month", ["0000-01", "1969-12", "2200-01"])
def test_green_reports_refuse_months_out_of_range(
    client: TestClient, enterprise: Caller, path: str, month: str
) -> None:
    response = client.get(path, params={"month": month}, headers=enterprise.headers)
    assert_range_problem(response, "month", "month_range")


@pytest.mark.parametrize("month", ["0000-01", "1969-12", "2200-01"])
def test_settlements_refuse_months_out_of_range(
    client: TestClient, operator: Caller, month: str
) -> None:
    response = client.get("/v1/settlements", params={"month": month}, headers=operator.headers)
    assert_range_problem(response, "month", "month_range")
