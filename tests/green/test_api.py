"""Roles, tenant isolation and bad input on every green route; nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, create_site
from tests.green.conftest import gec
from vpp.models import GreenCertificate, GreenContract, MeterReading

TS = "2026-11-02T08:00:00+08:00"
MONTH = {"month": "2026-11"}


def reading(site: object, **overrides: object) -> dict[str, object]:
    return {
        "site_id": str(site),
        "commodity": "natural_gas",
        "ts": TS,
        "quantity": 10.0,
        "unit": "m3",
        **overrides,
    }


def contract(account: object, **overrides: object) -> dict[str, object]:
    return {
        "account_id": str(account),
        "reference": "GP-1",
        "delivery_start": "2026-11-01T00:00:00+08:00",
        "delivery_end": "2026-12-01T00:00:00+08:00",
        "energy_mwh": 3.0,
        "production_month": "2026-11",
        "gec_ids": [gec(1), gec(2), gec(3)],
        **overrides,
    }


def count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def test_readings_are_converted_and_idempotent(
    client: TestClient, enterprise: Caller, session_factory: sessionmaker[Session]
) -> None:
    site = create_site(client, enterprise)["id"]
    batch = {
        "readings": [
            reading(site, commodity="heat", quantity=2.0, unit="Gcal"),
            reading(site, commodity="electricity", quantity=1.5, unit="MWh"),
            reading(site, commodity="hydrogen", quantity=1000.0, unit="Nm3"),
        ]
    }
    first = client.post("/v1/meters/readings", json=batch, headers=enterprise.headers)
    assert first.json() == {"accepted": 3, "duplicates": 0}
    again = client.post("/v1/meters/readings", json=batch, headers=enterprise.headers)
    assert again.json() == {"accepted": 0, "duplicates": 3}
    with session_factory() as session:
        stored = {r.commodity: r for r in session.execute(select(MeterReading)).scalars()}
    # 2 Gcal x 4.1868 GJ/Gcal = 8.3736 GJ.
    assert stored["heat"].quantity == pytest.approx(8.3736)
    assert stored["heat"].unit == "GJ"
    assert (stored["electricity"].quantity, stored["electricity"].unit) == (1500.0, "kWh")
    assert stored["hydrogen"].quantity == pytest.approx(89.88)
    assert (stored["heat"].reported_quantity, stored["heat"].reported_unit) == (2.0, "Gcal")


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"commodity": "coal"}, "readings[1].commodity", "enum"),
        ({"unit": "kWh"}, "readings[1].unit", "known_unit"),
        ({"quantity": -1.0}, "readings[1].quantity", "greater_than_equal"),
        ({"ts": "2026-11-02T08:00:00"}, "readings[1].ts", "timezone_aware"),
        ({"extra": 1}, "readings[1].extra", "extra_forbidden"),
    ],
)
def test_bad_readings_are_refused_whole(
    client: TestClient,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
    overrides: dict[str, object],
    field: str,
    rule: str,
) -> None:
    site = create_site(client, enterprise)["id"]
    batch = {
        "readings": [
            reading(site),
            reading(site, **{"ts": TS.replace("08:00", "09:00"), **overrides}),
        ]
    }
    body = problem(client.post("/v1/meters/readings", json=batch, headers=enterprise.headers), 422)
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["rule"] == rule
    assert count(session_factory, MeterReading) == 0


def test_readings_of_another_enterprises_site_are_refused(
    client: TestClient,
    enterprise: Caller,
    other_enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    own = create_site(client, other_enterprise)["id"]
    foreign = create_site(client, enterprise)["id"]
    batch = {"readings": [reading(own), reading(foreign)]}
    body = problem(
        client.post("/v1/meters/readings", json=batch, headers=other_enterprise.headers), 404
    )
    assert body["errors"][0]["field"] == "readings[1].site_id"
    assert count(session_factory, MeterReading) == 0


def test_contracts_record_certificates(
    client: TestClient, enterprise: Caller, operator: Caller
) -> None:
    response = client.post(
        "/v1/green/contracts", json=contract(enterprise.account_id), headers=operator.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["energy_kwh"] == 3000.0 and response.json()["certificates"] == 3
    listed = client.get("/v1/green/certificates", headers=enterprise.headers).json()["items"]
    assert [c["gec_id"] for c in listed] == [gec(1), gec(2), gec(3)]
    # Two years of validity by default ([C17c]).
    assert {c["valid_until"] for c in listed} == {"2028-10-31"}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"gec_ids": [gec(1), "SHORT"]}, 422, "gec_ids"),
        ({"gec_ids": [gec(1), gec(1)]}, 422, "gec_ids"),
        ({"gec_ids": [gec(n) for n in range(4)]}, 422, "gec_ids"),  # 4 GECs for 3 MWh
        ({"energy_mwh": -1.0}, 422, "energy_mwh"),
        ({"production_month": "2026-13"}, 422, "production_month"),
        ({"delivery_end": "2026-10-01T00:00:00+08:00"}, 422, "delivery_end"),
        ({"delivery_start": "2026-11-01T00:00:00"}, 422, "delivery_start"),
        ({"valid_until": "2026-01-01"}, 422, "valid_until"),
    ],
)
def test_bad_contracts_write_nothing(
    client: TestClient,
    enterprise: Caller,
    operator: Caller,
    session_factory: sessionmaker[Session],
    overrides: dict[str, object],
    status: int,
    field: str,
) -> None:
    body = contract(enterprise.account_id, **overrides)
    answer = problem(
        client.post("/v1/green/contracts", json=body, headers=operator.headers), status
    )
    assert answer["errors"][0]["field"] == field
    assert count(session_factory, GreenContract) == 0
    assert count(session_factory, GreenCertificate) == 0


def test_a_certificate_is_recorded_once(
    client: TestClient,
    enterprise: Caller,
    other_enterprise: Caller,
    operator: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    first = client.post(
        "/v1/green/contracts", json=contract(enterprise.account_id), headers=operator.headers
    )
    assert first.status_code == 201
    body = contract(other_enterprise.account_id, gec_ids=[gec(7), gec(2)])
    answer = problem(client.post("/v1/green/contracts", json=body, headers=operator.headers), 409)
    assert answer["errors"][0]["field"] == "gec_ids[1]"
    assert count(session_factory, GreenContract) == 1
    unknown = contract(operator.account_id, gec_ids=[gec(9)])  # not an enterprise
    problem(client.post("/v1/green/contracts", json=unknown, headers=operator.headers), 404)


def test_enterprises_see_only_their_own(
    client: TestClient,
    enterprise: Caller,
    other_enterprise: Caller,
    operator: Caller,
) -> None:
    site = create_site(client, enterprise)["id"]
    client.post(
        "/v1/meters/readings", json={"readings": [reading(site)]}, headers=enterprise.headers
    )
    client.post(
        "/v1/green/contracts", json=contract(enterprise.account_id), headers=operator.headers
    )

    other = client.get("/v1/green/certificates", headers=other_enterprise.headers).json()
    assert other["items"] == []
    # An enterprise's account_id filter cannot widen its view.
    sneaky = client.get(
        "/v1/green/certificates",
        params={"account_id": str(enterprise.account_id)},
        headers=other_enterprise.headers,
    ).json()
    assert sneaky["items"] == []
    assert len(client.get("/v1/green/certificates", headers=operator.headers).json()["items"]) == 3

    report = client.get(
        "/v1/green/report",
        params={**MONTH, "account_id": str(enterprise.account_id)},
        headers=other_enterprise.headers,
    ).json()
    assert report["park"] is None
    assert [e["scope"] for e in report["enterprises"]] == [str(other_enterprise.account_id)]
    assert "Enterprise A" not in str(report)
    for path in ("/v1/green/report.csv", "/v1/green/footprint.csv"):
        text = client.get(path, params=MONTH, headers=other_enterprise.headers).text
        assert str(enterprise.account_id) not in text and "Enterprise A" not in text

    full = client.get("/v1/green/report", params=MONTH, headers=operator.headers).json()
    assert {e["name"] for e in full["enterprises"]} >= {"Enterprise A", "Enterprise B"}
    assert full["park"] is not None
    own = next(e for e in full["enterprises"] if e["name"] == "Enterprise A")
    assert next(r for r in own["carriers"] if r["carrier"] == "natural_gas")["quantity"] == 10.0


ROUTES: list[tuple[str, str, set[str], Callable[[Caller], Any] | None, dict[str, str] | None]] = [
    ("POST", "/v1/meters/readings", {"enterprise"}, lambda e: {"readings": []}, None),
    ("POST", "/v1/green/contracts", {"operator"}, lambda e: contract(e.account_id), None),
    ("GET", "/v1/green/certificates", {"enterprise", "operator"}, None, None),
    ("POST", "/v1/green/claims", {"operator"}, lambda e: MONTH, None),
    ("GET", "/v1/green/report", {"enterprise", "operator"}, None, MONTH),
    ("GET", "/v1/green/report.csv", {"enterprise", "operator"}, None, MONTH),
    ("GET", "/v1/green/footprint.csv", {"enterprise", "operator"}, None, MONTH),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_roles(
    client: TestClient,
    route: tuple[str, str, set[str], Callable[[Caller], Any] | None, dict[str, str] | None],
    enterprise: Caller,
    make_caller: Callable[..., Caller],
) -> None:
    method, path, roles, body, params = route
    payload = body(enterprise) if body else None
    assert problem(client.request(method, path, json=payload, params=params), 401)
    for role in ("enterprise", "operator", "grid", "admin"):
        response = client.request(
            method, path, json=payload, params=params, headers=make_caller(role).headers
        )
        if role in roles:
            assert response.status_code != 403, f"{role}: {response.text}"
        else:
            problem(response, 403)


def test_bad_report_queries(client: TestClient, operator: Caller, enterprise: Caller) -> None:
    for month in ("2026-13", "2026-1", "november"):
        body = problem(
            client.get("/v1/green/report", params={"month": month}, headers=operator.headers), 422
        )
        assert body["errors"][0]["field"] == "month"
    problem(client.get("/v1/green/report", headers=operator.headers), 422)
    body = problem(
        client.get("/v1/green/footprint.csv", params=MONTH, headers=operator.headers), 422
    )
    assert body["errors"][0]["field"] == "account_id"
    unknown = {**MONTH, "account_id": "00000000-0000-0000-0000-000000000000"}
    problem(client.get("/v1/green/report", params=unknown, headers=operator.headers), 404)
    body = problem(
        client.post("/v1/green/claims", json={"month": "26-11"}, headers=operator.headers), 422
    )
    assert body["errors"][0]["field"] == "month"
    ok = client.get("/v1/green/footprint.csv", params=MONTH, headers=enterprise.headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/csv")
