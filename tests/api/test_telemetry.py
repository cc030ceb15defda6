"""Telemetry ingest and queries: all-or-nothing batches, duplicates, limits, history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Caller, create_battery, create_site
from vpp.models import TelemetryReading

T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def readings(asset_id: Any, n: int, start: datetime = T0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "asset_id": asset_id,
            "ts": (start + timedelta(minutes=i)).isoformat(),
            "power_kw": 10.0 + i,
            **extra,
        }
        for i in range(n)
    ]


def stored(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(TelemetryReading)).scalar_one())


@pytest.fixture
def asset(client: TestClient, enterprise: Caller) -> dict[str, Any]:
    return create_battery(client, enterprise, create_site(client, enterprise)["id"])


def test_batch_for_many_assets_is_stored_and_read_back(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], session: Session
) -> None:
    second = create_battery(client, enterprise, asset["site_id"], name="Battery 2")
    batch = readings(asset["id"], 5, soc=0.5, status="online") + readings(second["id"], 3)
    response = client.post("/v1/telemetry", json={"readings": batch}, headers=enterprise.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 8, "duplicates": 0}
    assert stored(session) == 8

    history = client.get(
        f"/v1/assets/{asset['id']}/telemetry",
        params={"start": "2026-11-25T08:00:00+08:00", "end": "2026-11-25T08:03:00+08:00"},
        headers=enterprise.headers,
    ).json()
    assert [r["power_kw"] for r in history["items"]] == [10.0, 11.0, 12.0]
    first = history["items"][0]
    assert first["ts"] == "2026-11-25T00:00:00Z"
    assert first["soc"] == 0.5 and first["status"] == "online" and first["quality"] == "good"


def test_history_pages_with_a_cursor(
    client: TestClient, enterprise: Caller, asset: dict[str, Any]
) -> None:
    client.post(
        "/v1/telemetry", json={"readings": readings(asset["id"], 7)}, headers=enterprise.headers
    )
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "limit": 3}
    seen: list[float] = []
    cursor = None
    for _ in range(5):
        params = {**window, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/v1/assets/{asset['id']}/telemetry", params=params, headers=enterprise.headers
        ).json()
        seen += [r["power_kw"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [10.0 + i for i in range(7)]


def test_duplicates_are_stored_once(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], session: Session
) -> None:
    batch = readings(asset["id"], 4)
    first = client.post("/v1/telemetry", json={"readings": batch}, headers=enterprise.headers)
    assert first.json() == {"accepted": 4, "duplicates": 0}
    # Same readings again, plus one new one and one repeated inside the batch.
    more = batch + readings(asset["id"], 1, start=T0 + timedelta(hours=1)) + batch[:1]
    second = client.post("/v1/telemetry", json={"readings": more}, headers=enterprise.headers)
    assert second.status_code == 200
    assert second.json() == {"accepted": 1, "duplicates": 5}
    assert stored(session) == 5


BAD_READINGS = [
    ("naive timestamp", {"ts": "2026-11-25T08:00:00"}, "readings[2].ts", "timezone_aware"),
    ("not a number", {"power_kw": "lots"}, "readings[2].power_kw", "float_parsing"),
    ("infinite power", {"power_kw": float("inf")}, "readings[2].power_kw", "finite_number"),
    ("soc above one", {"soc": 1.5}, "readings[2].soc", "less_than_equal"),
    ("unknown field", {"account_id": "x"}, "readings[2].account_id", "extra_forbidden"),
    ("unknown quality", {"quality": "great"}, "readings[2].quality", "literal_error"),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "rule"), BAD_READINGS, ids=[c[0] for c in BAD_READINGS]
)
def test_one_bad_reading_rejects_the_whole_batch(
    client: TestClient,
    enterprise: Caller,
    asset: dict[str, Any],
    session: Session,
    case: str,
    change: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    batch = readings(asset["id"], 4)
    batch[2] = {**batch[2], **change}
    if case == "infinite power":
        # JSON has no infinity; Python's encoder writes the non-standard token anyway.
        body = json.dumps({"readings": batch})
        response = client.post(
            "/v1/telemetry",
            content=body,
            headers={**enterprise.headers, "content-type": "application/json"},
        )
    else:
        response = client.post(
            "/v1/telemetry", json={"readings": batch}, headers=enterprise.headers
        )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["rule"] == rule
    assert field in problem["detail"]
    assert stored(session) == 0


def test_unknown_asset_rejects_the_batch_naming_the_index(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], session: Session
) -> None:
    batch = readings(asset["id"], 3) + readings("01a2144a-0000-7000-8000-000000000000", 1)
    response = client.post("/v1/telemetry", json={"readings": batch}, headers=enterprise.headers)
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "readings[3].asset_id"
    assert stored(session) == 0


@pytest.mark.parametrize("foreign_first", [True, False])
def test_the_first_stray_reading_is_named_whether_unknown_or_foreign(
    client: TestClient,
    enterprise: Caller,
    other_enterprise: Caller,
    asset: dict[str, Any],
    session: Session,
    foreign_first: bool,
) -> None:
    theirs = create_battery(client, other_enterprise, create_site(client, other_enterprise)["id"])
    unknown = "01a2144a-0000-7000-8000-000000000000"
    strays = [theirs["id"], unknown] if foreign_first else [unknown, theirs["id"]]
    batch = readings(asset["id"], 2) + readings(strays[0], 1) + readings(strays[1], 1)
    response = client.post("/v1/telemetry", json={"readings": batch}, headers=enterprise.headers)
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "readings[2].asset_id"
    assert strays[0] in response.json()["detail"]
    assert stored(session) == 0


def test_retired_asset_takes_no_telemetry(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], session: Session
) -> None:
    client.delete(f"/v1/assets/{asset['id']}", headers=enterprise.headers)
    response = client.post(
        "/v1/telemetry", json={"readings": readings(asset["id"], 1)}, headers=enterprise.headers
    )
    assert response.status_code == 404
    assert stored(session) == 0


def test_batch_over_the_limit_is_refused(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], session: Session
) -> None:
    limit = client.app.state.settings.telemetry_max_batch  # type: ignore[attr-defined]
    response = client.post(
        "/v1/telemetry",
        json={"readings": readings(asset["id"], limit + 1)},
        headers=enterprise.headers,
    )
    assert response.status_code == 413
    assert str(limit) in response.json()["detail"]
    assert stored(session) == 0
    at_limit = client.post(
        "/v1/telemetry", json={"readings": readings(asset["id"], limit)}, headers=enterprise.headers
    )
    assert at_limit.json() == {"accepted": limit, "duplicates": 0}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"readings": [', 400),
        ("not json at all", 400),
        ('{"readings": []}', 422),
        ('{"data": []}', 422),
        ("[]", 422),
    ],
)
def test_malformed_bodies_get_problem_details(
    client: TestClient, enterprise: Caller, body: str, status: int, session: Session
) -> None:
    response = client.post(
        "/v1/telemetry",
        content=body,
        headers={**enterprise.headers, "content-type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]
    assert stored(session) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-11-25T00:00:00", "end": "2026-11-26T00:00:00+08:00"},
        {"start": "2026-11-26T00:00:00+08:00", "end": "2026-11-25T00:00:00+08:00"},
        {"start": "2026-11-25T00:00:00+08:00"},
        {"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z", "cursor": "%%%"},
    ],
)
def test_bad_history_queries_are_4xx(
    client: TestClient, enterprise: Caller, asset: dict[str, Any], params: dict[str, str]
) -> None:
    response = client.get(
        f"/v1/assets/{asset['id']}/telemetry", params=params, headers=enterprise.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] in ("start", "end", "cursor")
