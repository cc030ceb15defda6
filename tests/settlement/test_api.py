"""Settlement routes: settling a day, statements, evidence, agreements, roles and tenants."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller
from tests.settlement.conftest import PRODUCT, Park, add_readings
from tests.settlement.helpers import DAY, hand_day
from vpp.models import AuditEntry, LedgerRecord, Settlement
from vpp.settlement.ledger import verify_evidence

DAY_TEXT = DAY.isoformat()


def settle(client: TestClient, caller: Caller, day: str = DAY_TEXT) -> Any:
    return client.post("/v1/settlements", json={"day": day}, headers=caller.headers)


def set_b_agreement(client: TestClient, operator: Caller, other: Caller) -> None:
    response = client.put(
        f"/v1/agreements/{other.account_id}",
        json={"ratio": "0.1", "fee_cny_per_mwh": "10.00"},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text


def lines_by_account(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["account_id"]: line for line in body["lines"]}


def count(session_factory: sessionmaker[Session], model: type) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_operator_settles_the_hand_computed_day(
    client: TestClient, park: Park, operator: Caller, enterprise: Caller, other_enterprise: Caller
) -> None:
    set_b_agreement(client, operator, other_enterprise)
    response = settle(client, operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["pool"] == {
        "payment_cny": "390.00",
        "penalty_cny": "25.00",
        "net_cny": "365.00",
        "aggregator_cny": "64.55",
        "enterprises_net_cny": "300.45",
        "flagged_intervals": 0,
    }
    lines = lines_by_account(body)
    a, b = lines[str(enterprise.account_id)], lines[str(other_enterprise.account_id)]
    assert (a["payment_cny"], a["penalty_cny"], a["aggregator_cny"], a["net_cny"]) == (
        "258.00",
        "12.50",
        "49.10",
        "196.40",
    )
    assert (b["payment_cny"], b["gross_cny"], b["aggregator_cny"], b["net_cny"]) == (
        "132.00",
        "119.50",
        "15.45",
        "104.05",
    )
    assert a["response_kwh"] == pytest.approx((600 + 800 + 1100 + 100 + 300) * 0.25)
    assert a["allocated_kwh"] == pytest.approx(600 * 5 * 0.25)
    # settling again with the same inputs returns the stored version
    again = settle(client, operator)
    assert again.status_code == 200
    assert again.json()["id"] == body["id"] and again.json()["version"] == 1


def test_each_caller_reads_its_own_lines_and_the_grid_the_pool(
    client: TestClient,
    park: Park,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    grid: Caller,
    make_caller: Callable[..., Caller],
) -> None:
    settle(client, operator)
    for who in (enterprise, other_enterprise):
        body = client.get(f"/v1/settlements?day={DAY_TEXT}", headers=who.headers).json()
        (item,) = body["items"]
        assert item["pool"] is None
        assert [line["account_id"] for line in item["lines"]] == [str(who.account_id)]
        assert [t["account_id"] for t in body["totals"]] == [str(who.account_id)]
    month = client.get("/v1/settlements?month=2026-03", headers=grid.headers).json()
    (item,) = month["items"]
    assert item["lines"] == [] and month["totals"] == []
    assert item["pool"]["net_cny"] == "365.00"
    everyone = client.get("/v1/settlements?month=2026-03", headers=operator.headers).json()
    assert len(everyone["items"][0]["lines"]) == 2
    stranger = make_caller("enterprise", "Enterprise C")
    assert client.get("/v1/settlements?month=2026-03", headers=stranger.headers).json() == {
        "items": [],
        "totals": [],
    }
    settlement_id = item["id"]
    assert (
        client.get(f"/v1/settlements/{settlement_id}", headers=stranger.headers).status_code == 404
    )
    mine = client.get(f"/v1/settlements/{settlement_id}", headers=enterprise.headers).json()
    assert [line["account_id"] for line in mine["lines"]] == [str(enterprise.account_id)]


def test_the_period_must_be_a_day_or_a_month(client: TestClient, operator: Caller) -> None:
    for query in ("", f"?day={DAY_TEXT}&month=2026-03", "?month=2026-13", "?day=2026-02-30"):
        response = client.get(f"/v1/settlements{query}", headers=operator.headers)
        assert response.status_code == 422, query
    assert client.get("/v1/settlements?day=2026-03-11").status_code == 401


def read_csv(text_body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text_body)))


def test_statement_csv_re_totals_and_shows_only_the_callers_lines(
    client: TestClient,
    park: Park,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    grid: Caller,
) -> None:
    settlement_id = settle(client, operator).json()["id"]
    url = f"/v1/settlements/{settlement_id}/statement.csv"
    own = client.get(url, headers=enterprise.headers)
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/csv")
    rows = read_csv(own.text)
    assert {r["account_id"] for r in rows} == {str(enterprise.account_id)}
    intervals = [r for r in rows if r["record"] == "interval"]
    (total,) = [r for r in rows if r["record"] == "total"]
    assert [r["interval"] for r in intervals] == ["72", "73", "74", "75", "76"]
    assert intervals[0]["interval_start_utc"] == "2026-03-11T10:00:00+00:00"
    assert sum(Decimal(r["payment_cny"]) for r in intervals) == Decimal(total["payment_cny"])
    assert sum(Decimal(r["gross_cny"]) for r in intervals) == Decimal(total["gross_cny"])
    assert Decimal(total["gross_cny"]) - Decimal(total["aggregator_cny"]) == Decimal(
        total["net_cny"]
    )
    every = read_csv(client.get(url, headers=operator.headers).text)
    assert {r["account_id"] for r in every} == {
        str(enterprise.account_id),
        str(other_enterprise.account_id),
    }
    pool = read_csv(client.get(url, headers=grid.headers).text)
    assert [r["payment_cny"] for r in pool if r["record"] == "interval"] == [
        "100.00",
        "120.00",
        "120.00",
        "0.00",
        "50.00",
    ]
    assert pool[-1]["net_cny"] == "365.00"
    assert client.get(url + "?level=enterprise", headers=grid.headers).status_code == 403
    assert client.get(url + "?level=pool", headers=enterprise.headers).status_code == 403
    page = client.get(f"/v1/settlements/{settlement_id}/statement.html", headers=enterprise.headers)
    assert page.status_code == 200 and "Settlement statement 2026-03-11" in page.text
    assert str(other_enterprise.account_id) not in page.text


def test_statements_of_another_enterprise_are_not_found(
    client: TestClient, park: Park, operator: Caller, make_caller: Callable[..., Caller]
) -> None:
    settlement_id = settle(client, operator).json()["id"]
    stranger = make_caller("enterprise", "Enterprise C")
    for suffix in ("statement.csv", "statement.html"):
        url = f"/v1/settlements/{settlement_id}/{suffix}"
        assert client.get(url, headers=stranger.headers).status_code == 404
    unknown = "/v1/settlements/00000000-0000-7000-8000-000000000000/statement.csv"
    assert client.get(unknown, headers=operator.headers).status_code == 404


def test_evidence_excerpts_verify_and_hide_other_parties(
    client: TestClient,
    park: Park,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    grid: Caller,
    make_caller: Callable[..., Caller],
) -> None:
    settle(client, operator)
    url = f"/v1/evidence/{DAY_TEXT}"
    own = client.get(url, headers=enterprise.headers).json()
    assert str(other_enterprise.account_id) not in str(own)
    checked = verify_evidence(own)
    assert checked.enterprises_recomputed == (str(enterprise.account_id),)
    pool = verify_evidence(client.get(url, headers=grid.headers).json())
    assert pool.pool_checked and pool.enterprises_recomputed == ()
    full = verify_evidence(client.get(url, headers=operator.headers).json())
    assert len(full.enterprises_recomputed) == 2 and full.pool_checked
    stranger = make_caller("enterprise", "Enterprise C")
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert client.get("/v1/evidence/2026-03-10", headers=operator.headers).status_code == 404


def test_refused_settlements_write_nothing(
    client: TestClient,
    park: Park,
    operator: Caller,
    enterprise: Caller,
    grid: Caller,
    session_factory: sessionmaker[Session],
    clock: Any,
) -> None:
    audit_before = count(session_factory, AuditEntry)
    no_awards = settle(client, operator, "2026-03-10")
    assert no_awards.status_code == 422
    assert no_awards.json()["errors"][0] == {
        "field": "day",
        "rule": "no_awards",
        "message": "2026-03-10 has no awards to settle",
    }
    future = settle(client, operator, "2026-03-12")
    assert future.status_code == 422
    assert future.json()["errors"][0]["rule"] == "day_not_complete"
    clock.advance(-8 * 3600)  # 16:00 Beijing on the day itself: not over yet
    assert settle(client, operator).json()["errors"][0]["rule"] == "day_not_complete"
    assert settle(client, enterprise).status_code == 403
    assert settle(client, grid).status_code == 403
    bad = client.post(
        "/v1/settlements", json={"day": DAY_TEXT, "extra": 1}, headers=operator.headers
    )
    assert bad.status_code == 422
    assert count(session_factory, Settlement) == 0
    assert count(session_factory, LedgerRecord) == 0
    assert count(session_factory, AuditEntry) == audit_before


def test_late_telemetry_adds_a_version_and_keeps_the_first(
    client: TestClient,
    make_park: Callable[..., Park],
    operator: Caller,
    other_enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    park = make_park(gap=(2, slice(72, 75)))  # B's asset: 45 minutes missing
    first = settle(client, operator).json()
    assert first["pool"]["flagged_intervals"] == 3
    # B's 400 kW do not count in 72-74: 600, 800 and 1100 kW paid, then 0 and 500 kW
    assert first["pool"]["payment_cny"] == "300.00"
    first_records = client.get(f"/v1/evidence/{DAY_TEXT}", headers=operator.headers).json()
    with session_factory() as session:
        add_readings(session, park.assets[2], DAY, hand_day()[2], only=slice(72, 75))
        session.commit()
    second = settle(client, operator)
    assert second.status_code == 201, second.text
    body = second.json()
    assert body["version"] == 2 and body["pool"]["payment_cny"] == "390.00"
    assert body["pool"]["flagged_intervals"] == 0
    evidence = client.get(f"/v1/evidence/{DAY_TEXT}", headers=operator.headers).json()
    assert evidence["records"][:4] == first_records["records"]
    assert verify_evidence(evidence).records == 8
    listed = client.get(f"/v1/settlements?day={DAY_TEXT}", headers=operator.headers).json()
    assert [i["version"] for i in listed["items"]] == [2]
    old = client.get(f"/v1/settlements/{first['id']}", headers=operator.headers).json()
    assert old["pool"]["payment_cny"] == "300.00"
    _ = other_enterprise


def test_the_ledger_refuses_updates_and_deletes(
    client: TestClient, park: Park, operator: Caller, session_factory: sessionmaker[Session]
) -> None:
    settle(client, operator)
    for statement in (
        "UPDATE ledger_records SET body = '{}'",
        "DELETE FROM ledger_records",
    ):
        with session_factory() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))


def test_agreements_by_role(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    grid: Caller,
) -> None:
    set_b_agreement(client, operator, other_enterprise)
    own = client.get("/v1/agreements", headers=other_enterprise.headers).json()["items"]
    assert own == [
        {
            "account_id": str(other_enterprise.account_id),
            "ratio": "0.1",
            "fee_cny_per_mwh": "10.00",
            "default": False,
            "updated_at": own[0]["updated_at"],
        }
    ]
    mine = client.get("/v1/agreements", headers=enterprise.headers).json()["items"]
    assert [(i["account_id"], i["ratio"], i["default"]) for i in mine] == [
        (str(enterprise.account_id), "0.2", True)
    ]
    every = client.get("/v1/agreements", headers=operator.headers).json()["items"]
    assert {i["account_id"] for i in every} >= {
        str(enterprise.account_id),
        str(other_enterprise.account_id),
    }
    url = f"/v1/agreements/{enterprise.account_id}"
    assert client.put(url, json={"ratio": "0.3"}, headers=enterprise.headers).status_code == 403
    assert client.get("/v1/agreements", headers=grid.headers).status_code == 403
    for bad in (
        {"ratio": "1.5"},
        {"ratio": "0.12345"},
        {"ratio": "0.1", "fee_cny_per_mwh": "0.001"},
    ):
        response = client.put(url, json=bad, headers=operator.headers)
        assert response.status_code == 422, bad
    not_enterprise = client.put(
        f"/v1/agreements/{operator.account_id}", json={"ratio": "0.1"}, headers=operator.headers
    )
    assert not_enterprise.status_code == 404
    _ = PRODUCT
