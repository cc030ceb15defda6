"""Write safety: bad input, idempotency keys, rate limits — each answer a problem document."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import BATTERY, Caller, create_site, make_settings
from vpp.app import create_app
from vpp.models import Asset, AuditEntry, IdempotencyRecord, Site
from vpp.models.base import utcnow


def count(session: Session, model: type[Any]) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def asset_body(site_id: Any, **params: Any) -> dict[str, Any]:
    return {**BATTERY, "site_id": site_id, "params": {**BATTERY["params"], **params}}  # type: ignore[dict-item]


BAD_ASSETS = [
    ("unknown kind", {"kind": "fusion_reactor"}, "kind", "union_tag_invalid"),
    (
        "negative capacity",
        {"params": {"capacity_kwh": -5, "charge_power_kw": 1, "discharge_power_kw": 1}},
        "params.capacity_kwh",
        "positive",
    ),
    (
        "soc_min above soc_max",
        {"params": {**BATTERY["params"], "soc_min": 0.9, "soc_max": 0.2}},  # type: ignore[dict-item]
        "params.soc_min",
        "soc_order",
    ),
    (
        "efficiency above one",
        {"params": {**BATTERY["params"], "round_trip_efficiency": 1.2}},  # type: ignore[dict-item]
        "params.round_trip_efficiency",
        "efficiency_range",
    ),
    (
        "efficiency zero",
        {"params": {**BATTERY["params"], "round_trip_efficiency": 0}},  # type: ignore[dict-item]
        "params.round_trip_efficiency",
        "efficiency_range",
    ),
    (
        "mass assignment of account_id",
        {"account_id": str(uuid.uuid4())},
        "account_id",
        "extra_forbidden",
    ),
    (
        "unknown parameter",
        {"params": {**BATTERY["params"], "colour": "red"}},  # type: ignore[dict-item]
        "params.colour",
        "extra_forbidden",
    ),
    ("missing parameter", {"params": {"capacity_kwh": 100}}, "params.charge_power_kw", "missing"),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "rule"), BAD_ASSETS, ids=[c[0] for c in BAD_ASSETS]
)
def test_bad_assets_are_refused_and_nothing_is_written(
    client: TestClient,
    enterprise: Caller,
    session: Session,
    case: str,
    change: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    site = create_site(client, enterprise)
    audit_before = count(session, AuditEntry)
    body = {**asset_body(site["id"]), **change}
    response = client.post("/v1/assets", json=body, headers=enterprise.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["errors"][0]["field"], problem["errors"][0]["rule"]) == (field, rule), problem
    assert problem["detail"].startswith(field)
    assert count(session, Asset) == 0
    assert count(session, AuditEntry) == audit_before


def test_owner_always_comes_from_the_key(
    client: TestClient, enterprise: Caller, other_enterprise: Caller
) -> None:
    response = client.post(
        "/v1/sites",
        json={
            "name": "x",
            "connection_point": "p",
            "voltage_kv": 10,
            "account_id": str(other_enterprise.account_id),
        },
        headers=enterprise.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "account_id"


def test_naive_timestamp_on_a_key_expiry_is_refused(
    client: TestClient, admin: Caller, enterprise: Caller
) -> None:
    response = client.post(
        "/v1/keys",
        json={"account_id": str(enterprise.account_id), "expires_at": "2030-01-01T00:00:00"},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "expires_at",
        "rule": "timezone_aware",
        "message": "Input should have timezone info",
    }


def test_idempotent_replay_returns_the_first_answer(
    client: TestClient, enterprise: Caller, session: Session
) -> None:
    headers = {**enterprise.headers, "Idempotency-Key": "site-create-1"}
    body = {"name": "Plant", "connection_point": "GS-1", "voltage_kv": 10}
    first = client.post("/v1/sites", json=body, headers=headers)
    second = client.post("/v1/sites", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert count(session, Site) == 1
    changed = client.post("/v1/sites", json={**body, "name": "Other"}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["rule"] == "same_request"
    assert count(session, Site) == 1


def test_idempotency_keys_are_per_account(
    client: TestClient, enterprise: Caller, other_enterprise: Caller, session: Session
) -> None:
    body = {"name": "Plant", "connection_point": "GS-1", "voltage_kv": 10}
    for caller in (enterprise, other_enterprise):
        response = client.post(
            "/v1/sites", json=body, headers={**caller.headers, "Idempotency-Key": "k"}
        )
        assert response.status_code == 201
        assert response.json()["account_id"] == str(caller.account_id)
    assert count(session, Site) == 2


def test_failed_write_releases_its_key(
    client: TestClient, enterprise: Caller, session: Session
) -> None:
    site = create_site(client, enterprise)
    headers = {**enterprise.headers, "Idempotency-Key": "asset-1"}
    bad = client.post(
        "/v1/assets", json=asset_body(site["id"], soc_min=0.95, soc_max=0.1), headers=headers
    )
    assert bad.status_code == 422
    bad_site = client.post("/v1/assets", json=asset_body(str(uuid.uuid4())), headers=headers)
    assert bad_site.status_code == 404
    good = client.post("/v1/assets", json=asset_body(site["id"]), headers=headers)
    assert good.status_code == 201
    assert count(session, Asset) == 1


def leave_claim(
    client: TestClient,
    session_factory: sessionmaker[Session],
    caller: Caller,
    key: str,
    body: dict[str, Any],
    age: timedelta = timedelta(0),
) -> None:
    """Leave behind what a request with ``body`` holds while it runs (or after it died):
    an unanswered claim of ``key``, ``age`` old. The request hash is taken from a real
    request with the same body under another key."""
    probe_key = f"probe-{key}"
    assert (
        client.post(
            "/v1/sites", json=body, headers={**caller.headers, "Idempotency-Key": probe_key}
        ).status_code
        == 201
    )
    with session_factory() as s:
        probe = s.execute(
            select(IdempotencyRecord).where(IdempotencyRecord.key == probe_key)
        ).scalar_one()
        s.add(
            IdempotencyRecord(
                account_id=caller.account_id,
                key=key,
                method="POST",
                path="/v1/sites",
                request_hash=probe.request_hash,
                created_at=utcnow() - age,
            )
        )
        s.commit()


def test_concurrent_duplicate_gets_409(
    client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session], session: Session
) -> None:
    body = {"name": "Plant", "connection_point": "GS-1", "voltage_kv": 10}
    leave_claim(client, session_factory, enterprise, "in-flight", body)
    response = client.post(
        "/v1/sites", json=body, headers={**enterprise.headers, "Idempotency-Key": "in-flight"}
    )
    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert count(session, Site) == 1  # only the probe's site


def test_stale_claim_is_taken_over(
    client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session], session: Session
) -> None:
    body = {"name": "Plant", "connection_point": "GS-1", "voltage_kv": 10}
    leave_claim(client, session_factory, enterprise, "dead", body, age=timedelta(hours=1))
    response = client.post(
        "/v1/sites", json=body, headers={**enterprise.headers, "Idempotency-Key": "dead"}
    )
    assert response.status_code == 201
    assert count(session, Site) == 2


def test_telemetry_batch_replay_is_not_counted_twice(
    client: TestClient, enterprise: Caller
) -> None:
    site = create_site(client, enterprise)
    asset = client.post(
        "/v1/assets", json=asset_body(site["id"]), headers=enterprise.headers
    ).json()
    batch = {"readings": [{"asset_id": asset["id"], "ts": "2026-11-25T00:00:00Z", "power_kw": 3}]}
    headers = {**enterprise.headers, "Idempotency-Key": "batch-7"}
    first = client.post("/v1/telemetry", json=batch, headers=headers)
    again = client.post("/v1/telemetry", json=batch, headers=headers)
    assert first.json() == again.json() == {"accepted": 1, "duplicates": 0}


def test_rate_limit_answers_429_with_retry_after(
    session_factory: sessionmaker[Session], enterprise: Caller, other_enterprise: Caller
) -> None:
    app = create_app(
        make_settings(rate_limit_per_s=0.5, rate_limit_burst=3), session_factory=session_factory
    )
    with TestClient(app) as client:
        statuses = [
            client.get("/v1/assets", headers=enterprise.headers).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/assets", headers=enterprise.headers)
        assert limited.headers["retry-after"] == "2"
        assert limited.headers["content-type"].startswith("application/problem+json")
        # Another key has its own bucket.
        assert client.get("/v1/assets", headers=other_enterprise.headers).status_code == 200


def test_unknown_route_and_method_are_problem_documents(
    client: TestClient, enterprise: Caller
) -> None:
    missing = client.get("/v1/nothing-here", headers=enterprise.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = client.put("/v1/sites", headers=enterprise.headers)
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith("application/problem+json")
