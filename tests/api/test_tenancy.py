"""Tenant isolation and authentication, driven by one table of every route and method."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SITE, Caller, create_battery, create_site
from vpp.models import ApiKey, BidAllocation, BidRow
from vpp.models.base import utcnow

READING_TS = "2026-11-25T08:00:00+08:00"
WINDOW = {"start": "2026-11-25T00:00:00+08:00", "end": "2026-11-26T00:00:00+08:00"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]
    body: Callable[[dict[str, Any]], Any] | None = None
    params: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENT, OPS, ADM = frozenset({"enterprise"}), frozenset({"operator"}), frozenset({"admin"})
EO = frozenset({"enterprise", "operator"})
OG = frozenset({"operator", "grid"})
ALL = frozenset({"enterprise", "operator", "grid", "admin"})
DAY = {"day": "2026-11-26"}

ROUTES = [
    Route("GET", "/v1/sites", EO),
    Route("POST", "/v1/sites", ENT, lambda o: SITE),
    Route("GET", "/v1/sites/{site}", EO),
    Route("PATCH", "/v1/sites/{site}", ENT, lambda o: {"name": "renamed"}),
    Route("DELETE", "/v1/sites/{site}", ENT),
    Route("GET", "/v1/assets", EO),
    Route(
        "POST",
        "/v1/assets",
        ENT,
        lambda o: {
            "site_id": o["site"],
            "name": "B",
            "kind": "pv",
            "params": {"peak_kw": 100},
        },
    ),
    Route("GET", "/v1/assets/{asset}", EO),
    Route("PATCH", "/v1/assets/{asset}", ENT, lambda o: {"name": "renamed"}),
    Route("DELETE", "/v1/assets/{asset}", ENT),
    Route("GET", "/v1/assets/{asset}/telemetry", EO, params=WINDOW),
    Route(
        "POST",
        "/v1/telemetry",
        ENT,
        lambda o: {"readings": [{"asset_id": o["asset"], "ts": READING_TS, "power_kw": 1.0}]},
    ),
    Route("GET", "/v1/pool/summary", OPS),
    Route("GET", "/v1/assets/{asset}/forecast", EO, params={"day": "2026-11-25"}),
    Route("GET", "/v1/pool/flexibility", OPS, params={"day": "2026-11-25"}),
    Route("GET", "/v1/commands", EO),
    Route("GET", "/v1/commands/{command}", EO),
    Route("POST", "/v1/assets/{asset}/setpoints", OPS, lambda o: {"power_kw": 10.0}),
    Route("GET", "/v1/me", ALL),
    Route("GET", "/v1/markets", ALL),
    Route("GET", "/v1/bids", OPS),
    Route("POST", "/v1/bids", OPS, lambda o: DAY),
    Route("GET", "/v1/bids/{bid}", OPS),
    Route("PATCH", "/v1/bids/{bid}", OPS, lambda o: {"revision": 1, "intervals": []}),
    Route("POST", "/v1/bids/{bid}/approve", OPS),
    Route("POST", "/v1/bids/{bid}/submit", OPS),
    Route("GET", "/v1/awards", OG, params=DAY),
    Route("GET", "/v1/participation", EO, params=DAY),
    Route("GET", "/v1/dispatch/plan", EO, params=DAY),
    Route("POST", "/v1/accounts", ADM, lambda o: {"name": "New Co", "kind": "enterprise"}),
    Route("POST", "/v1/keys", ADM, lambda o: {"account_id": o["account"]}),
    Route("DELETE", "/v1/keys/{key}", ADM),
]
OBJECT_ROUTES = [
    r
    for r in ROUTES
    if ("{site}" in r.path or "{asset}" in r.path or "{command}" in r.path)
    and "enterprise" in r.roles
]
OBJECT_ROUTES += [
    r for r in ROUTES if r.method == "POST" and r.path in ("/v1/assets", "/v1/telemetry")
]


@pytest.fixture
def objects(
    client: TestClient,
    enterprise: Caller,
    make_caller: Callable[..., Caller],
    session_factory: sessionmaker[Session],
) -> dict[str, Any]:
    """Enterprise A's site, asset, a setpoint command for the asset, account and key, and
    a draft bid the asset backs."""
    site = create_site(client, enterprise)
    asset = create_battery(client, enterprise, site["id"])
    command = client.post(
        f"/v1/assets/{asset['id']}/setpoints",
        json={"power_kw": 5.0},
        headers=make_caller("operator").headers,
    )
    assert command.status_code == 201, command.text
    with session_factory() as session:
        bid = BidRow(
            product="peak_shaving.peak_cut",
            pack_version="test",
            day=date(2026, 11, 26),
            side="down",
            state="draft",
            risk_quantile=0.1,
            ladder=[{"interval": i, "steps": []} for i in range(96)],
            offered_kwh=0.0,
            expected_revenue_cny=0.0,
        )
        session.add(bid)
        session.flush()
        session.add(
            BidAllocation(
                bid_id=bid.id,
                asset_id=uuid.UUID(str(asset["id"])),
                interval=72,
                account_id=enterprise.account_id,
                capacity_kw=100.0,
                offered_kw=0.0,
                awarded_kw=0.0,
            )
        )
        session.commit()
    return {
        "bid": str(bid.id),
        "site": site["id"],
        "asset": asset["id"],
        "command": command.json()["id"],
        "account": str(enterprise.account_id),
        "key": str(enterprise.key_id),
    }


def call(client: TestClient, route: Route, objects: dict[str, Any], headers: dict[str, str]) -> Any:
    path = route.path.format(**objects)
    body = route.body(objects) if route.body else None
    return client.request(route.method, path, json=body, params=route.params, headers=headers)


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_foreign_objects_are_not_found(
    client: TestClient,
    route: Route,
    objects: dict[str, Any],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    response = call(client, route, objects, other_enterprise.headers)
    assert_problem(response, 404)
    assert "Battery 1" not in response.text
    assert objects["account"] not in response.text
    # Nothing of A's changed.
    site = client.get(f"/v1/sites/{objects['site']}", headers=enterprise.headers).json()
    asset = client.get(f"/v1/assets/{objects['asset']}", headers=enterprise.headers).json()
    assert site["name"] == SITE["name"] and site["retired_at"] is None
    assert asset["name"] == "Battery 1" and asset["retired_at"] is None
    history = client.get(
        f"/v1/assets/{objects['asset']}/telemetry", params=WINDOW, headers=enterprise.headers
    ).json()
    assert history["items"] == []


def test_foreign_lists_are_empty(
    client: TestClient, objects: dict[str, Any], other_enterprise: Caller
) -> None:
    for path in ("/v1/sites", "/v1/assets", "/v1/commands", "/v1/participation"):
        response = client.get(path, params=DAY, headers=other_enterprise.headers)
        assert response.status_code == 200
        assert response.json()["items"] == []


ROLES = ("enterprise", "operator", "grid", "admin")


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_roles_outside_a_route_are_forbidden(
    client: TestClient,
    route: Route,
    objects: dict[str, Any],
    make_caller: Callable[..., Caller],
) -> None:
    for role in ROLES:
        if role in route.roles:
            continue
        response = call(client, route, objects, make_caller(role).headers)
        assert_problem(response, 403)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_missing_revoked_or_expired_keys_are_unauthorized(
    client: TestClient,
    route: Route,
    objects: dict[str, Any],
    make_caller: Callable[..., Caller],
    admin: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    role = sorted(route.roles)[0]
    revoked, expired = make_caller(role), make_caller(role)
    # Use the revoked key once first, so revocation must also evict it from the key cache.
    assert client.get("/healthz", headers=revoked.headers).status_code == 200
    call(client, route, objects, revoked.headers)
    assert client.delete(f"/v1/keys/{revoked.key_id}", headers=admin.headers).status_code == 200
    with session_factory() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == expired.key_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()

    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer vpp_not-a-real-key"},
        revoked.headers,
        expired.headers,
    ):
        response = call(client, route, objects, headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_key_cannot_be_used_by_its_revoker_afterwards_even_when_cached(
    client: TestClient, enterprise: Caller, admin: Caller
) -> None:
    assert client.get("/v1/assets", headers=enterprise.headers).status_code == 200
    assert client.delete(f"/v1/keys/{enterprise.key_id}", headers=admin.headers).status_code == 200
    assert client.get("/v1/assets", headers=enterprise.headers).status_code == 401
