"""Sites and assets through the API: enrollment, updates, retirement, the pool summary."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Caller, create_battery, create_site
from vpp.models import Asset, AuditEntry


def test_enterprise_enrolls_a_battery_and_reads_it_back(
    client: TestClient, enterprise: Caller, session: Session
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])

    assert asset["account_id"] == str(enterprise.account_id)
    assert asset["flexibility"] == {"baseline_kw": 0.0, "up_kw": 500.0, "down_kw": 400.0}
    read = client.get(f"/v1/assets/{asset['id']}", headers=enterprise.headers)
    assert read.status_code == 200
    assert read.json() == asset
    listed = client.get("/v1/assets", headers=enterprise.headers).json()
    assert [a["id"] for a in listed["items"]] == [asset["id"]]
    actions = (
        session.execute(
            select(AuditEntry.action)
            .where(AuditEntry.account_id == enterprise.account_id)
            .order_by(AuditEntry.id)
        )
        .scalars()
        .all()
    )
    assert actions == ["site.create", "asset.create"]


def test_patch_merges_params_and_recomputes_flexibility(
    client: TestClient, enterprise: Caller
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    response = client.patch(
        f"/v1/assets/{asset['id']}",
        json={"name": "Battery A", "params": {"discharge_power_kw": 250}},
        headers=enterprise.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Battery A"
    assert body["params"]["charge_power_kw"] == 500
    assert body["flexibility"]["down_kw"] == 250


def test_patch_with_impossible_params_changes_nothing(
    client: TestClient, enterprise: Caller
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    response = client.patch(
        f"/v1/assets/{asset['id']}",
        json={"name": "renamed", "params": {"soc_min": 0.95, "soc_max": 0.2}},
        headers=enterprise.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("params")
    after = client.get(f"/v1/assets/{asset['id']}", headers=enterprise.headers).json()
    assert after == asset


def test_retiring_a_site_needs_its_assets_retired_first(
    client: TestClient, enterprise: Caller
) -> None:
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    blocked = client.delete(f"/v1/sites/{site['id']}", headers=enterprise.headers)
    assert blocked.status_code == 409
    retired = client.delete(f"/v1/assets/{asset['id']}", headers=enterprise.headers)
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert client.get("/v1/assets", headers=enterprise.headers).json()["items"] == []
    with_retired = client.get(
        "/v1/assets", params={"include_retired": True}, headers=enterprise.headers
    ).json()
    assert [a["id"] for a in with_retired["items"]] == [asset["id"]]
    assert client.delete(f"/v1/sites/{site['id']}", headers=enterprise.headers).status_code == 200
    again = client.patch(
        f"/v1/assets/{asset['id']}", json={"name": "x"}, headers=enterprise.headers
    )
    assert again.status_code == 409


def test_operator_pool_summary_totals_by_kind(
    client: TestClient, enterprise: Caller, other_enterprise: Caller, operator: Caller
) -> None:
    site_a = create_site(client, enterprise)
    site_b = create_site(client, other_enterprise)
    create_battery(client, enterprise, site_a["id"])
    create_battery(client, other_enterprise, site_b["id"])
    load = {
        "site_id": site_b["id"],
        "name": "HVAC",
        "kind": "curtailable_load",
        "params": {"nominal_kw": 300, "min_kw": 100, "max_kw": 350},
    }
    assert client.post("/v1/assets", json=load, headers=other_enterprise.headers).status_code == 201
    retired = create_battery(client, enterprise, site_a["id"])
    client.delete(f"/v1/assets/{retired['id']}", headers=enterprise.headers)

    summary = client.get("/v1/pool/summary", headers=operator.headers).json()
    assert summary["enterprise_count"] == 2
    assert summary["asset_count"] == 3
    assert summary["up_kw"] == 500 + 500 + 50
    assert summary["down_kw"] == 400 + 400 + 200
    assert summary["by_kind"] == [
        {"kind": "battery", "count": 2, "up_kw": 1000.0, "down_kw": 800.0},
        {"kind": "curtailable_load", "count": 1, "up_kw": 50.0, "down_kw": 200.0},
    ]
    everyone = client.get("/v1/assets", headers=operator.headers).json()
    assert len(everyone["items"]) == 3
    only_b = client.get(
        "/v1/assets",
        params={"account_id": str(other_enterprise.account_id)},
        headers=operator.headers,
    ).json()
    assert {a["account_id"] for a in only_b["items"]} == {str(other_enterprise.account_id)}


def test_list_pagination_walks_every_asset_once(
    client: TestClient, enterprise: Caller, session: Session
) -> None:
    site = create_site(client, enterprise)
    created = {
        str(create_battery(client, enterprise, site["id"], name=f"B{i}")["id"]) for i in range(5)
    }
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/assets", params=params, headers=enterprise.headers).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created)
    assert len(seen) == session.execute(select(func.count()).select_from(Asset)).scalar_one()


def test_every_asset_kind_enrolls(client: TestClient, enterprise: Caller) -> None:
    site = create_site(client, enterprise)
    kinds = {
        "curtailable_load": {"nominal_kw": 800, "min_kw": 500},
        "shiftable_process": {
            "process": "electrolyzer",
            "rated_kw": 10000,
            "min_stable_kw": 2000,
            "max_kw": 12000,
            "storage_kwh": 40000,
        },
        "ev_fleet": {"charger_count": 10, "charger_power_kw": 60, "daily_energy_kwh": 2000},
        "pv": {"peak_kw": 1500},
    }
    for kind, params in kinds.items():
        body = {"site_id": site["id"], "name": kind, "kind": kind, "params": params}
        response = client.post("/v1/assets", json=body, headers=enterprise.headers)
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == kind
    electrolyzer = client.get(
        "/v1/assets", params={"kind": "shiftable_process"}, headers=enterprise.headers
    ).json()["items"][0]
    assert electrolyzer["flexibility"] == {
        "baseline_kw": 10000.0,
        "up_kw": 2000.0,
        "down_kw": 8000.0,
    }
