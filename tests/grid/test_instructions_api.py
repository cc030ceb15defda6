"""POST /v1/grid/instructions: signed, fresh, valid instructions answered at once; the
rest refused with a precise problem and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, create_battery, create_site
from tests.grid.conftest import CURRENT_INTERVAL, DAY, NOW, Signer, instruction
from vpp.grid.signing import KEY_ID_HEADER, SIGNATURE_HEADER, sign_body
from vpp.models import GridInstruction, PoolTarget, ScheduleVersion, SetpointCommandRow

BATTERY_PARAMS = {
    "capacity_kwh": 1000,
    "charge_power_kw": 500,
    "discharge_power_kw": 400,
    "round_trip_efficiency": 1.0,
}
"""Enrolled: up 500 kW, down 400 kW; energy between 100 and 900 kWh (soc 0.1-0.9), lossless
so that e[t+1] = e[t] + p[t]·0.25 h exactly."""


@pytest.fixture
def battery(client: TestClient, enterprise: Caller) -> dict[str, Any]:
    site = create_site(client, enterprise)
    return create_battery(client, enterprise, site["id"], params=BATTERY_PARAMS)


def report_energy(
    client: TestClient, caller: Caller, asset: dict[str, Any], energy_kwh: float
) -> None:
    """A fresh reading (a minute before the service clock's now) at rest with
    ``energy_kwh`` stored."""
    now = client.app.state.clock.now()  # type: ignore[attr-defined]
    reading = {
        "asset_id": asset["id"],
        "ts": (now - timedelta(minutes=1)).isoformat(),
        "power_kw": 0.0,
        "energy_kwh": energy_kwh,
    }
    response = client.post("/v1/telemetry", json={"readings": [reading]}, headers=caller.headers)
    assert response.status_code in (200, 201), response.text


def stored(session_factory: sessionmaker[Session]) -> tuple[int, int, int]:
    """(instructions, pool target rows, schedule versions) in the database."""
    with session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(GridInstruction)) or 0,
            session.scalar(select(func.count()).select_from(PoolTarget)) or 0,
            session.scalar(select(func.count()).select_from(ScheduleVersion)) or 0,
        )


def assert_problem(response: Any, status: int, field: str | None, rule: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        error = response.json()["errors"][0]
        assert (error["field"], error["rule"]) == (field, rule), response.text


# --- answers ---------------------------------------------------------------------------


def test_a_feasible_instruction_is_accepted_and_changes_the_plan(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    report_energy(client, enterprise, battery, 500.0)
    response = signer.post(client, instruction(target_kw=[100.0, 100.0]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["feasible_kw"] == [100.0, 100.0]
    assert body["reason"] == ""
    assert body["direction"] == "down"
    assert body["schedule_version"] == 1
    assert "Idempotent-Replayed" not in response.headers
    with session_factory() as session:
        targets = session.scalars(select(PoolTarget).order_by(PoolTarget.interval)).all()
        assert [(t.interval, t.target_kw, t.planned_kw) for t in targets] == [
            (42, 100.0, 100.0),
            (43, 100.0, 100.0),
        ]
        # The battery is told to discharge 100 kW (net load -100) in both intervals.
        commands = session.scalars(
            select(SetpointCommandRow).order_by(SetpointCommandRow.interval_start)
        ).all()
        assert [c.power_kw for c in commands] == [-100.0, -100.0]


def test_an_energy_limited_pool_answers_partial_with_the_feasible_kw(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
) -> None:
    # 150 kWh stored, 100 kWh minimum: 50 kWh to give, i.e. 200 kW over one 15-minute interval.
    report_energy(client, enterprise, battery, 150.0)
    response = signer.post(client, instruction(intervals=[42], target_kw=[400.0]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "partial"
    assert body["feasible_kw"] == [pytest.approx(200.0, abs=0.01)]
    assert "interval(s) 42" in body["reason"]


def test_an_infeasible_instruction_is_rejected_and_nothing_changes(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    report_energy(client, enterprise, battery, 100.0)  # empty: at its minimum state of charge
    response = signer.post(client, instruction(target_kw=[300.0, 300.0]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "rejected"
    assert body["feasible_kw"] == [0.0, 0.0]
    assert "nothing changed" in body["reason"]
    assert body["schedule_version"] is None
    # The answer is kept (a replay gets it again); the plan and targets are untouched.
    assert stored(session_factory) == (1, 0, 0)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SetpointCommandRow)) == 0


def test_a_repeated_instruction_gets_the_first_answer_and_changes_nothing(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: Any,
) -> None:
    report_energy(client, enterprise, battery, 500.0)
    payload = instruction(target_kw=[100.0, 100.0])
    first = signer.post(client, payload)
    assert first.status_code == 200
    before = stored(session_factory)
    with session_factory() as session:
        commands = session.scalar(select(func.count()).select_from(SetpointCommandRow))
    clock.advance(120)  # e.g. re-sent by the security gateway two minutes later
    again = signer.post(client, payload)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(session_factory) == before
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SetpointCommandRow)) == commands


def test_other_content_under_a_used_id_is_a_conflict(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    report_energy(client, enterprise, battery, 500.0)
    assert signer.post(client, instruction(target_kw=[100.0, 100.0])).status_code == 200
    before = stored(session_factory)
    response = signer.post(client, instruction(target_kw=[150.0, 100.0]))
    assert_problem(response, 409, "instruction_id", "unique")
    assert stored(session_factory) == before
    with session_factory() as session:
        assert [t.target_kw for t in session.scalars(select(PoolTarget))] == [100.0, 100.0]


def test_an_instruction_for_the_interval_under_way_is_sent_at_once(
    client: TestClient,
    signer: Signer,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: Any,
) -> None:
    report_energy(client, enterprise, battery, 500.0)
    clock.advance(7 * 60)  # mid-interval: 10:07 Beijing time
    report_energy(client, enterprise, battery, 500.0)
    response = signer.post(
        client,
        instruction(intervals=[CURRENT_INTERVAL], target_kw=[50.0], issued_at=clock.now()),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    with session_factory() as session:
        [command] = session.scalars(select(SetpointCommandRow)).all()
        assert command.power_kw == -50.0
        assert command.interval_start == NOW  # the interval under way
        assert command.next_attempt_at == clock.now()  # due now, not at the next interval


def test_a_gateway_delay_of_minutes_is_allowed(
    client: TestClient, signer: Signer, enterprise: Caller, battery: dict[str, Any]
) -> None:
    report_energy(client, enterprise, battery, 500.0)
    payload = instruction(issued_at=NOW - timedelta(minutes=9, seconds=59))
    assert signer.post(client, payload).json()["status"] == "accepted"


# --- refusals --------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, dict[str, Any], str, str]] = [
    ("stale", instruction(issued_at=NOW - timedelta(minutes=10, seconds=1)), "issued_at", "fresh"),
    ("future", instruction(issued_at=NOW + timedelta(minutes=2)), "issued_at", "not_future"),
    ("past interval", instruction(intervals=[CURRENT_INTERVAL - 1]), "intervals[0]", "not_past"),
    (
        "past interval later in the list",
        instruction(intervals=[CURRENT_INTERVAL + 1, 0]),
        "intervals[1]",
        "not_past",
    ),
    ("interval beyond the day", instruction(intervals=[96]), "intervals[0]", "interval_range"),
    ("unknown product", instruction(product="capacity.black_start"), "product", "product_known"),
    ("negative target", instruction(target_kw=[100.0, -1.0]), "target_kw[1]", "non_negative"),
    (
        "absurd target (beyond the pool's 400 kW down)",
        instruction(target_kw=[400.5, 100.0]),
        "target_kw[0]",
        "within_pool_capacity",
    ),
    ("no intervals", instruction(intervals=[], target_kw=[]), "intervals", "non_empty"),
    ("repeated interval", instruction(intervals=[50, 50]), "intervals[1]", "unique"),
    (
        "fewer targets than intervals",
        instruction(intervals=[50, 51], target_kw=[10.0]),
        "target_kw",
        "one_per_interval",
    ),
    ("naive issue time", {**instruction(), "issued_at": "2026-11-26T02:00:00"}, "issued_at",
     "timezone_aware"),
    ("unknown field", {**instruction(), "priority": "high"}, "priority", "extra_forbidden"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_instructions_are_refused_and_nothing_is_stored(
    client: TestClient,
    signer: Signer,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    payload: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    response = signer.post(client, payload)
    assert_problem(response, 422, field, rule)
    assert stored(session_factory) == (0, 0, 0)
    lookup = client.get(
        f"/v1/grid/instructions/{payload['instruction_id']}", headers=signer.caller.headers
    )
    assert lookup.status_code == 404


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_targets_are_refused(
    client: TestClient,
    signer: Signer,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    literal: str,
) -> None:
    body = json.dumps(instruction(target_kw=[1.0, 2.0])).replace("2.0", literal).encode()
    response = client.post("/v1/grid/instructions", content=body, headers=signer.headers(body))
    assert_problem(response, 422, "target_kw[1]", "finite_number")
    assert stored(session_factory) == (0, 0, 0)


def test_malformed_json_is_a_bad_request(client: TestClient, signer: Signer) -> None:
    body = b'{"instruction_id": "x",'
    response = client.post("/v1/grid/instructions", content=body, headers=signer.headers(body))
    assert_problem(response, 400, "body", "json_invalid")


def _signed_elsewhere(signer: Signer, body: bytes) -> dict[str, str]:
    other = Ed25519PrivateKey.generate()
    return signer.headers(body, **{SIGNATURE_HEADER: sign_body(other, body)})


def _tampered(signer: Signer, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signer.headers(body)
    return body.replace(b"100.0", b"10.0", 1), headers


SIGNATURE_CASES: list[tuple[str, Callable[[Signer, bytes], dict[str, str]], str, str]] = [
    ("unsigned", lambda s, b: {k: v for k, v in s.headers(b).items() if k != SIGNATURE_HEADER},
     SIGNATURE_HEADER, "required"),
    ("no key id", lambda s, b: {k: v for k, v in s.headers(b).items() if k != KEY_ID_HEADER},
     KEY_ID_HEADER, "required"),
    ("unknown key id", lambda s, b: s.headers(b, **{KEY_ID_HEADER: "nobody"}), KEY_ID_HEADER,
     "key_known"),
    ("signed with another key", _signed_elsewhere, SIGNATURE_HEADER, "signature_valid"),
    ("not base64", lambda s, b: s.headers(b, **{SIGNATURE_HEADER: "%%%"}), SIGNATURE_HEADER,
     "signature_valid"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_headers", "field", "rule"),
    [case[1:] for case in SIGNATURE_CASES],
    ids=[case[0] for case in SIGNATURE_CASES],
)
def test_unsigned_or_wrongly_signed_instructions_are_unauthorized(
    client: TestClient,
    signer: Signer,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    make_headers: Callable[[Signer, bytes], dict[str, str]],
    field: str,
    rule: str,
) -> None:
    body = json.dumps(instruction()).encode()
    response = client.post(
        "/v1/grid/instructions", content=body, headers=make_headers(signer, body)
    )
    assert_problem(response, 401, field, rule)
    assert stored(session_factory) == (0, 0, 0)


def test_a_body_altered_after_signing_is_unauthorized(
    client: TestClient,
    signer: Signer,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    body, headers = _tampered(signer, json.dumps(instruction()).encode())
    response = client.post("/v1/grid/instructions", content=body, headers=headers)
    assert_problem(response, 401, SIGNATURE_HEADER, "signature_valid")
    assert stored(session_factory) == (0, 0, 0)


def test_another_grid_accounts_key_or_a_revoked_key_is_unauthorized(
    client: TestClient,
    signer: Signer,
    make_signer: Callable[..., Signer],
    admin: Caller,
    battery: dict[str, Any],
) -> None:
    other = make_signer("Other grid", "other-1")
    body = json.dumps(instruction()).encode()
    # Signed correctly with the other account's key, but sent with this account's bearer key.
    headers = other.headers(body, Authorization=signer.caller.headers["Authorization"])
    response = client.post("/v1/grid/instructions", content=body, headers=headers)
    assert_problem(response, 401, KEY_ID_HEADER, "key_known")

    revoke = client.delete(f"/v1/grid/keys/{signer.key_uuid}", headers=admin.headers)
    assert revoke.status_code == 200 and revoke.json()["revoked_at"] is not None
    response = signer.post(client, instruction())
    assert_problem(response, 401, KEY_ID_HEADER, "key_active")


@pytest.mark.parametrize("role", ["enterprise", "operator", "admin"])
def test_only_grid_keys_may_send_instructions(
    client: TestClient, make_caller: Callable[..., Caller], signer: Signer, role: str
) -> None:
    body = json.dumps(instruction()).encode()
    headers = signer.headers(body, Authorization=make_caller(role).headers["Authorization"])
    response = client.post("/v1/grid/instructions", content=body, headers=headers)
    assert_problem(response, 403, None, None)


def test_without_a_bearer_key_an_instruction_is_unauthorized(
    client: TestClient, signer: Signer
) -> None:
    body = json.dumps(instruction()).encode()
    headers = {k: v for k, v in signer.headers(body).items() if k != "Authorization"}
    response = client.post("/v1/grid/instructions", content=body, headers=headers)
    assert_problem(response, 401, None, None)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_day_already_over_is_refused(client: TestClient, signer: Signer) -> None:
    response = signer.post(client, instruction(day=DAY - timedelta(days=1), intervals=[95]))
    assert_problem(response, 422, "intervals[0]", "not_past")
