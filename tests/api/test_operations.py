"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from tests.conftest import Caller, create_battery, create_site, make_settings
from vpp.app import create_app
from vpp.kit.db import create_db_engine, make_sessionmaker


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok"}


def test_readiness_fails_when_the_database_is_gone(tmp_path: object) -> None:
    engine = create_db_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none", pool_pre_ping=False)
    app = create_app(make_settings(), session_factory=make_sessionmaker(engine))
    with TestClient(app) as client:
        response = client.get("/readyz")
    engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "database unavailable" in response.json()["detail"]


def test_metrics_count_requests_and_readings(client: TestClient, enterprise: Caller) -> None:
    asset = create_battery(client, enterprise, create_site(client, enterprise)["id"])
    batch = {
        "readings": [
            {"asset_id": asset["id"], "ts": f"2026-11-25T00:0{i}:00Z", "power_kw": i}
            for i in range(3)
        ]
    }
    client.post("/v1/telemetry", json=batch, headers=enterprise.headers)
    client.post("/v1/telemetry", json=batch, headers=enterprise.headers)
    client.get(f"/v1/assets/{asset['id']}", headers=enterprise.headers)
    text = client.get("/metrics").text
    assert "vpp_telemetry_readings_ingested_total 3.0" in text
    assert "vpp_telemetry_readings_duplicate_total 3.0" in text
    assert (
        'vpp_http_requests_total{method="GET",route="/v1/assets/{asset_id}",status="200"} 1.0'
        in text
    )
    assert (
        'vpp_http_request_duration_seconds_count{method="POST",route="/v1/telemetry"} 2.0' in text
    )


def test_openapi_documents_the_telemetry_batch(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    reading = body["properties"]["readings"]["items"]
    assert reading["additionalProperties"] is False
    assert "power_kw" in reading["properties"]
    assert "/v1/pool/summary" in spec["paths"]


def test_sessions_are_not_shared_between_apps(session_factory: sessionmaker) -> None:  # type: ignore[type-arg]
    a = create_app(make_settings(), session_factory=session_factory)
    b = create_app(make_settings(), session_factory=session_factory)
    assert a.state.metrics.registry is not b.state.metrics.registry


def test_me_names_the_callers_account_role_and_the_service_clock(
    client: TestClient, enterprise: Caller, grid: Caller
) -> None:
    me = client.get("/v1/me", headers=enterprise.headers).json()
    assert me["account_name"] == "Enterprise A"
    assert me["role"] == "enterprise"
    assert me["account_id"] == str(enterprise.account_id)
    assert me["key_id"] == str(enterprise.key_id)
    assert me["now"].endswith("Z") or "+00:00" in me["now"]
    assert client.get("/v1/me", headers=grid.headers).json()["role"] == "grid"
