"""Manual setpoints and adapter bindings through the API: checks at the edge."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Caller, create_battery, create_site
from vpp.models import Asset, SetpointCommandRow


@pytest.fixture
def battery(client: TestClient, enterprise: Caller) -> dict[str, Any]:
    return create_battery(client, enterprise, create_site(client, enterprise)["id"])


def commands(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(SetpointCommandRow)).scalar_one())


BAD_SETPOINTS = [
    ({"power_kw": 501.0}, "power_kw", "power_range"),  # charge limit is 500, discharge 400
    ({"power_kw": -401.0}, "power_kw", "power_range"),
    ({"power_kw": 1.0, "interval_start": "2020-01-01T00:00:00Z"}, "interval_start", "not_past"),
    (
        {"power_kw": 1.0, "interval_start": "2099-01-01T00:07:00Z"},
        "interval_start",
        "interval_boundary",
    ),
    (
        {"power_kw": 1.0, "interval_start": "2099-01-01T00:00:00"},
        "interval_start",
        "timezone_aware",
    ),
    ({"power_kw": 1.0, "expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "future"),
    ({"power_kw": 1.0, "priority": "high"}, "priority", "extra_forbidden"),
    ({"power_kw": "full"}, "power_kw", "float_parsing"),
]


@pytest.mark.parametrize(("body", "field", "rule"), BAD_SETPOINTS)
def test_bad_setpoints_are_refused(
    client: TestClient,
    operator: Caller,
    battery: dict[str, Any],
    session: Session,
    body: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    response = client.post(
        f"/v1/assets/{battery['id']}/setpoints", json=body, headers=operator.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == (field, rule)
    assert commands(session) == 0


def test_setpoint_within_range_is_queued_with_history(
    client: TestClient, operator: Caller, enterprise: Caller, battery: dict[str, Any]
) -> None:
    created = client.post(
        f"/v1/assets/{battery['id']}/setpoints", json={"power_kw": 500.0}, headers=operator.headers
    )
    assert created.status_code == 201
    command = created.json()
    assert (command["state"], command["source"], command["adapter"]) == (
        "pending",
        "manual",
        "simulated",
    )
    own = client.get(
        "/v1/commands", params={"asset": battery["id"]}, headers=enterprise.headers
    ).json()
    assert [c["id"] for c in own["items"]] == [command["id"]]
    pending = client.get("/v1/commands", params={"state": "acked"}, headers=operator.headers).json()
    assert pending["items"] == []
    detail = client.get(f"/v1/commands/{command['id']}", headers=enterprise.headers).json()
    assert detail["history"][0]["state"] == "pending"


def test_retired_asset_takes_no_setpoint(
    client: TestClient, operator: Caller, enterprise: Caller, battery: dict[str, Any]
) -> None:
    client.delete(f"/v1/assets/{battery['id']}", headers=enterprise.headers)
    response = client.post(
        f"/v1/assets/{battery['id']}/setpoints", json={"power_kw": 1.0}, headers=operator.headers
    )
    assert response.status_code == 409


BAD_BINDINGS = [
    ({"name": "carrier_pigeon"}, "adapter.name", "adapter_known"),
    ({"name": "simulated", "settings": {"seed": "many"}}, "adapter.settings.seed", "int_parsing"),
    (
        {"name": "simulated", "settings": {"latitude": 120}},
        "adapter.settings.latitude",
        "less_than_equal",
    ),
    (
        {"name": "simulated", "settings": {"colour": "red"}},
        "adapter.settings.colour",
        "extra_forbidden",
    ),
    ({"name": "Bad Name"}, "adapter.name", "string_pattern_mismatch"),
]


@pytest.mark.parametrize(("adapter", "field", "rule"), BAD_BINDINGS)
def test_bad_adapter_bindings_are_refused(
    client: TestClient,
    enterprise: Caller,
    session: Session,
    adapter: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    site = create_site(client, enterprise)
    body = {
        "site_id": site["id"],
        "name": "B",
        "kind": "pv",
        "params": {"peak_kw": 100},
        "adapter": adapter,
    }
    response = client.post("/v1/assets", json=body, headers=enterprise.headers)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == (field, rule)
    assert session.execute(select(func.count()).select_from(Asset)).scalar_one() == 0


def test_binding_settings_are_stored_as_validated(
    client: TestClient, enterprise: Caller, battery: dict[str, Any]
) -> None:
    response = client.patch(
        f"/v1/assets/{battery['id']}",
        json={"adapter": {"name": "simulated", "settings": {"seed": 42}}},
        headers=enterprise.headers,
    )
    assert response.status_code == 200
    assert response.json()["adapter"] == {
        "name": "simulated",
        "settings": {"seed": 42, "latitude": 38.93, "longitude": 100.45},
    }
