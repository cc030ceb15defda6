"""Tenant isolation and authentication, driven by one table of every route and method."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SITE, Caller, create_battery, create_site, make_settings
from vpp.app import create_app
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
GRID = frozenset({"grid"})
EO = frozenset({"enterprise", "operator"})
OG = frozenset({"operator", "grid"})
EOG = frozenset({"enterprise", "operator", "grid"})
ALL = frozenset({"enterprise", "operator", "grid", "admin"})
DAY = {"day": "2026-11-26"}
MONTH = {"month": "2026-11"}
INSTRUCTION = {
    "instruction_id": "ins-tenancy",
    "product": "peak_shaving.peak_cut",
    "day": "2026-11-26",
    "intervals": [90],
    "target_kw": [10.0],
    "issued_at": "2026-11-26T10:00:00+08:00",
}

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
    Route("GET", "/v1/dispatch/tracking", EO, params=DAY),
    Route("POST", "/v1/accounts", ADM, lambda o: {"name": "New Co", "kind": "enterprise"}),
    Route("POST", "/v1/keys", ADM, lambda o: {"account_id": o["account"]}),
    Route("DELETE", "/v1/keys/{key}", ADM),
    # grid interface
    Route("POST", "/v1/grid/instructions", GRID, lambda o: INSTRUCTION),
    Route("GET", "/v1/grid/instructions", OG),
    Route("GET", "/v1/grid/instructions/{instruction}", OG),
    Route("GET", "/v1/grid/schedules", OG, params=DAY),
    Route("POST", "/v1/grid/keys", ADM, lambda o: {"account_id": o["account"], "public_key": ""}),
    Route("GET", "/v1/grid/keys", ADM),
    Route("DELETE", "/v1/grid/keys/{grid_key}", ADM),
    # green power and carbon
    Route("POST", "/v1/meters/readings", ENT, lambda o: {"readings": []}),
    Route("POST", "/v1/green/contracts", OPS, lambda o: {}),
    Route("GET", "/v1/green/certificates", EO),
    Route("POST", "/v1/green/claims", OPS, lambda o: {}),
    Route("GET", "/v1/green/report", EO, params=MONTH),
    Route("GET", "/v1/green/report.csv", EO, params=MONTH),
    Route("GET", "/v1/green/footprint.csv", EO, params=MONTH),
    # settlement
    Route("GET", "/v1/settlements", EOG, params=DAY),
    Route("POST", "/v1/settlements", OPS, lambda o: DAY),
    Route("GET", "/v1/settlements/{settlement}", EOG),
    Route("GET", "/v1/settlements/{settlement}/statement.csv", EOG),
    Route("GET", "/v1/settlements/{settlement}/statement.html", EOG),
    Route("GET", "/v1/evidence/{day}", EOG),
    Route("GET", "/v1/agreements", EO),
    Route("PUT", "/v1/agreements/{account}", OPS, lambda o: {"ratio": "0.1"}),
]
UNAUTHENTICATED = {("GET", "/healthz"), ("GET", "/readyz")}
"""The only routes of the API (its OpenAPI document) that take no key (DESIGN section 4b)."""

ISOLATION_TESTS = {
    "GET /v1/sites": "tests.api.test_tenancy::test_foreign_lists_are_empty",
    "GET /v1/assets": "tests.api.test_tenancy::test_foreign_lists_are_empty",
    "GET /v1/commands": "tests.api.test_tenancy::test_foreign_lists_are_empty",
    "GET /v1/participation": "tests.api.test_tenancy::test_foreign_lists_are_empty",
    # "": the route serves nobody's own data: the caller's own account, the market rule
    # packs, and the pool's awards and schedule, which the grid company reads whole.
    "GET /v1/me": "",
    "GET /v1/markets": "",
    "GET /v1/awards": "",
    "GET /v1/grid/schedules": "",
    "POST /v1/sites": "tests.api.test_writes::test_owner_always_comes_from_the_key",
    "GET /v1/dispatch/plan": (
        "tests.bidding.test_bids_api"
        "::test_a_whole_day_is_awarded_by_the_scheduler_and_shared_among_assets"
    ),
    "GET /v1/dispatch/tracking": (
        "tests.dispatch.test_tracking_api::test_each_enterprise_sees_only_its_own_contribution"
    ),
    "POST /v1/meters/readings": (
        "tests.green.test_api::test_readings_of_another_enterprises_site_are_refused"
    ),
    "GET /v1/green/certificates": "tests.green.test_api::test_enterprises_see_only_their_own",
    "GET /v1/green/report": "tests.green.test_api::test_enterprises_see_only_their_own",
    "GET /v1/green/report.csv": "tests.green.test_api::test_enterprises_see_only_their_own",
    "GET /v1/green/footprint.csv": "tests.green.test_api::test_enterprises_see_only_their_own",
    "GET /v1/settlements": (
        "tests.settlement.test_api::test_each_caller_reads_its_own_lines_and_the_grid_the_pool"
    ),
    "GET /v1/settlements/{settlement}": (
        "tests.settlement.test_api::test_each_caller_reads_its_own_lines_and_the_grid_the_pool"
    ),
    "GET /v1/settlements/{settlement}/statement.csv": (
        "tests.settlement.test_api::test_statements_of_another_enterprise_are_not_found"
    ),
    "GET /v1/settlements/{settlement}/statement.html": (
        "tests.settlement.test_api::test_statements_of_another_enterprise_are_not_found"
    ),
    "GET /v1/evidence/{day}": (
        "tests.settlement.test_api::test_evidence_excerpts_verify_and_hide_other_parties"
    ),
    "GET /v1/agreements": "tests.settlement.test_api::test_agreements_by_role",
    "GET /v1/grid/instructions": (
        "tests.grid.test_grid_reads_api::test_a_grid_account_reads_its_own_instructions_only"
    ),
    "GET /v1/grid/instructions/{instruction}": (
        "tests.grid.test_grid_reads_api::test_a_grid_account_reads_its_own_instructions_only"
    ),
}
"""Where tenant isolation is proven for the enterprise and grid routes that
`test_foreign_objects_are_not_found` below does not drive: "module::test"."""
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
        "instruction": "ins-unknown",
        "grid_key": str(uuid.uuid4()),
        "settlement": str(uuid.uuid4()),
        "day": "2026-11-26",
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


def _openapi_routes() -> set[tuple[str, str]]:
    document = create_app(make_settings()).openapi()
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


def _template(path: str) -> str:
    """A table path with the OpenAPI document's parameter names (``{site}`` ->
    ``{site_id}``...), for comparing the two."""
    names = {
        "{site}": "{site_id}",
        "{asset}": "{asset_id}",
        "{command}": "{command_id}",
        "{bid}": "{bid_id}",
        "{key}": "{key_id}",
        "{grid_key}": "{key_id}",
        "{instruction}": "{instruction_id}",
        "{settlement}": "{settlement_id}",
        "{account}": "{account_id}",
    }
    for short, full in names.items():
        path = path.replace(short, full)
    return path


def test_every_route_of_the_api_is_in_the_table() -> None:
    """A new route cannot ship without its role and authentication checks above."""
    listed = {(r.method, _template(r.path)) for r in ROUTES}
    assert len(listed) == len(ROUTES), "a route is listed twice"
    assert _openapi_routes() - UNAUTHENTICATED == listed


def test_every_tenant_route_has_a_test_proving_isolation() -> None:
    """Each route an enterprise or the grid calls is driven by the foreign-object test
    above or names the test that proves it shows no other tenant's data."""
    driven = {str(r) for r in OBJECT_ROUTES}
    for route in ROUTES:
        name = str(route)
        if not route.roles & {"enterprise", "grid"} or name in driven:
            continue
        if route.method != "GET" and "enterprise" not in route.roles:
            continue  # the grid's writes act on the pool, not on an enterprise's data
        assert name in ISOLATION_TESTS, f"{name}: no test proves tenant isolation"
    for name, where in ISOLATION_TESTS.items():
        if not where:
            continue
        module_name, _, test = where.partition("::")
        module = importlib.import_module(module_name)
        assert not test or callable(getattr(module, test, None)), f"{name}: {where} is gone"
