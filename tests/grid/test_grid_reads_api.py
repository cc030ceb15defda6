"""Reading instructions and schedules, signing keys, and who may call what."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import Caller, create_battery, create_site
from tests.grid.conftest import DAY, NOW, Signer, instruction
from vpp.grid.service import publish_schedule
from vpp.grid.signing import encode_public_key
from vpp.models import PlannedSetpointRow, PoolTarget

DAY_PARAMS = {"day": DAY.isoformat()}


def assert_status(response: Any, status: int) -> None:
    assert response.status_code == status, response.text


@pytest.fixture
def posted(client: TestClient, signer: Signer) -> dict[str, Any]:
    """An instruction of the signer's account: a zero target is trivially accepted."""
    response = signer.post(client, instruction("ins-a", target_kw=[0.0, 0.0]))
    assert_status(response, 200)
    body: dict[str, Any] = response.json()
    assert body["status"] == "accepted"
    return body


def test_a_grid_account_reads_its_own_instructions_only(
    client: TestClient,
    signer: Signer,
    make_signer: Callable[..., Signer],
    operator: Caller,
    posted: dict[str, Any],
) -> None:
    other = make_signer("Other grid", "other-1")
    path = "/v1/grid/instructions/ins-a"
    own = client.get(path, headers=signer.caller.headers)
    assert_status(own, 200)
    assert own.json() == posted
    assert_status(client.get(path, headers=other.caller.headers), 404)
    assert_status(client.get(path, headers=operator.headers), 200)

    assert [
        i["instruction_id"]
        for i in client.get("/v1/grid/instructions", headers=signer.caller.headers).json()["items"]
    ] == ["ins-a"]
    assert client.get("/v1/grid/instructions", headers=other.caller.headers).json()["items"] == []
    # The other account reusing the id is a conflict, and it learns nothing of the first.
    response = other.post(client, instruction("ins-a", target_kw=[0.0, 0.0]))
    assert_status(response, 409)
    assert "0.0" not in response.json()["detail"]
    listed = client.get("/v1/grid/instructions", params=DAY_PARAMS, headers=operator.headers)
    assert [i["instruction_id"] for i in listed.json()["items"]] == ["ins-a"]
    other_day = {"day": (DAY + timedelta(days=1)).isoformat()}
    assert (
        client.get("/v1/grid/instructions", params=other_day, headers=operator.headers).json()[
            "items"
        ]
        == []
    )


def test_instruction_lists_are_paginated(
    client: TestClient, signer: Signer, operator: Caller
) -> None:
    for n in range(3):
        assert_status(signer.post(client, instruction(f"ins-{n}", target_kw=[0.0, 0.0])), 200)
    first = client.get("/v1/grid/instructions", params={"limit": 2}, headers=operator.headers)
    page = first.json()
    assert [i["instruction_id"] for i in page["items"]] == ["ins-0", "ins-1"]
    second = client.get(
        "/v1/grid/instructions",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=operator.headers,
    ).json()
    assert [i["instruction_id"] for i in second["items"]] == ["ins-2"]
    assert second["next_cursor"] is None


GRID_READS = [
    ("GET", "/v1/grid/instructions", None),
    ("GET", "/v1/grid/instructions/ins-a", None),
    ("GET", "/v1/grid/schedules", DAY_PARAMS),
]


@pytest.mark.parametrize(("method", "path", "params"), GRID_READS)
def test_enterprise_and_admin_keys_cannot_read_grid_routes(
    client: TestClient,
    enterprise: Caller,
    admin: Caller,
    posted: dict[str, Any],
    method: str,
    path: str,
    params: dict[str, str] | None,
) -> None:
    for caller in (enterprise, admin):
        response = client.request(method, path, params=params, headers=caller.headers)
        assert_status(response, 403)
        assert "feasible_kw" not in response.text


@pytest.mark.parametrize(("method", "path", "params"), GRID_READS)
def test_grid_routes_need_a_key(
    client: TestClient, method: str, path: str, params: dict[str, str] | None
) -> None:
    assert_status(client.request(method, path, params=params), 401)


ENTERPRISE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/sites", None),
    ("POST", "/v1/sites", {"name": "x", "connection_point": "GS-1", "voltage_kv": 10}),
    ("GET", "/v1/assets", None),
    ("POST", "/v1/telemetry", {"readings": []}),
    ("GET", "/v1/participation", None),
    ("GET", "/v1/dispatch/plan", None),
    ("GET", "/v1/commands", None),
    ("GET", "/v1/bids", None),
    ("GET", "/v1/pool/summary", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENTERPRISE_ROUTES)
def test_a_grid_key_cannot_call_enterprise_or_operator_routes(
    client: TestClient, signer: Signer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.request(
        method, path, json=body, params=DAY_PARAMS, headers=signer.caller.headers
    )
    assert_status(response, 403)


# --- signing keys (admin) ---------------------------------------------------------------


def _public_key() -> str:
    return encode_public_key(Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def test_keys_are_registered_for_grid_accounts_only(
    client: TestClient,
    admin: Caller,
    enterprise: Caller,
    make_caller: Callable[..., Caller],
) -> None:
    grid = make_caller("grid")
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    created = client.post(
        "/v1/grid/keys", json={"account_id": str(grid.account_id), "public_key": pem},
        headers=admin.headers,
    )  # fmt: skip
    assert_status(created, 201)
    assert created.json()["public_key"] == encode_public_key(key.public_key().public_bytes_raw())
    assert len(created.json()["key_id"]) == 16  # the key's fingerprint

    cases = [
        ({"account_id": str(enterprise.account_id), "public_key": _public_key()}, 422,
         "grid_account"),
        ({"account_id": str(uuid.uuid4()), "public_key": _public_key()}, 422, "account_exists"),
        ({"account_id": str(grid.account_id), "public_key": "AAAA"}, 422, "ed25519_public_key"),
        ({"account_id": str(grid.account_id), "public_key": _public_key(),
          "key_id": created.json()["key_id"]}, 409, "unique"),
    ]  # fmt: skip
    for body, status, rule in cases:
        response = client.post("/v1/grid/keys", json=body, headers=admin.headers)
        assert_status(response, status)
        assert response.json()["errors"][0]["rule"] == rule

    listed = client.get(
        "/v1/grid/keys", params={"account": str(grid.account_id)}, headers=admin.headers
    )
    assert [k["id"] for k in listed.json()["items"]] == [created.json()["id"]]
    assert_status(client.delete(f"/v1/grid/keys/{uuid.uuid4()}", headers=admin.headers), 404)


@pytest.mark.parametrize("role", ["enterprise", "operator", "grid"])
def test_only_admins_manage_signing_keys(
    client: TestClient, make_caller: Callable[..., Caller], signer: Signer, role: str
) -> None:
    caller = make_caller(role)
    body = {"account_id": str(signer.caller.account_id), "public_key": _public_key()}
    assert_status(client.post("/v1/grid/keys", json=body, headers=caller.headers), 403)
    assert_status(client.get("/v1/grid/keys", headers=caller.headers), 403)
    response = client.delete(f"/v1/grid/keys/{signer.key_uuid}", headers=caller.headers)
    assert_status(response, 403)


# --- schedules --------------------------------------------------------------------------


def _plan(session: Session, assets: list[uuid.UUID], accounts: list[uuid.UUID]) -> None:
    """Two assets planned for DAY: baselines 30 and 50 kW everywhere; in interval 72 the
    first deviates -40 kW and the second -60 kW (a 100 kW peak cut awarded and planned)."""
    for asset_id, account_id, base, dev in zip(
        assets, accounts, (30.0, 50.0), (-40.0, -60.0), strict=True
    ):
        for t in range(96):
            d = dev if t == 72 else 0.0
            session.add(
                PlannedSetpointRow(
                    day=DAY, asset_id=asset_id, interval=t, account_id=account_id,
                    baseline_kw=base, deviation_kw=d, setpoint_kw=base + d,
                )
            )  # fmt: skip
    session.add(
        PoolTarget(
            day=DAY, product="peak_shaving.peak_cut", interval=72, awarded_kw=100.0,
            target_kw=100.0, planned_kw=100.0, shortfall_kw=0.0,
        )
    )  # fmt: skip
    session.flush()


def test_schedules_show_the_day_ahead_and_the_current_version(
    client: TestClient,
    session: Session,
    enterprise: Caller,
    other_enterprise: Caller,
    signer: Signer,
    operator: Caller,
) -> None:
    empty = client.get("/v1/grid/schedules", params=DAY_PARAMS, headers=signer.caller.headers)
    assert empty.json() == {"day": DAY.isoformat(), "day_ahead": None, "current": None}

    a = create_battery(client, enterprise, create_site(client, enterprise)["id"])
    b = create_battery(client, other_enterprise, create_site(client, other_enterprise)["id"])
    _plan(
        session,
        [uuid.UUID(str(a["id"])), uuid.UUID(str(b["id"]))],
        [enterprise.account_id, other_enterprise.account_id],
    )
    evening_before = NOW - timedelta(hours=14)  # 20:00 Beijing time the day before
    first = publish_schedule(session, DAY, evening_before)
    assert first is not None and first.version == 1
    assert publish_schedule(session, DAY, evening_before + timedelta(minutes=5)) is None
    session.commit()

    # The grid raises the evening target mid-day: a new version, the day-ahead one stays.
    target = session.get(PoolTarget, (DAY, "peak_shaving.peak_cut", 72))
    assert target is not None
    target.target_kw, target.planned_kw = 120.0, 110.0
    second = publish_schedule(session, DAY, NOW, cause="instruction ins-9")
    assert second is not None and second.version == 2
    session.commit()

    for caller in (signer.caller, operator):
        body = client.get("/v1/grid/schedules", params=DAY_PARAMS, headers=caller.headers).json()
        day_ahead, current = body["day_ahead"], body["current"]
        assert (day_ahead["version"], current["version"]) == (1, 2)
        assert current["cause"] == "instruction ins-9"
        assert day_ahead["updated_at"] == "2026-11-25T12:00:00Z"
        assert len(current["baseline_kw"]) == len(current["planned_kw"]) == 96
        assert current["baseline_kw"][72] == 80.0  # 30 + 50
        assert current["planned_kw"][72] == -20.0  # (30 - 40) + (50 - 60)
        assert current["planned_kw"][71] == 80.0
        [product] = current["products"]
        assert product["product"] == "peak_shaving.peak_cut"
        assert (product["awarded_kw"][72], product["target_kw"][72]) == (100.0, 120.0)
        assert product["deliverable_kw"][72] == 110.0
        assert day_ahead["products"][0]["target_kw"][72] == 100.0
        assert sum(product["awarded_kw"]) == 100.0
        # No enterprise's identity leaks into the pool-level schedule.
        text = str(body)
        assert str(a["id"]) not in text and str(enterprise.account_id) not in text


def test_a_schedule_day_must_be_a_date(client: TestClient, operator: Caller) -> None:
    response = client.get("/v1/grid/schedules", params={"day": "26/11"}, headers=operator.headers)
    assert_status(response, 422)
    assert response.json()["errors"][0]["field"] == "day"
