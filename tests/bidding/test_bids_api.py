"""The bid workflow through the API: draft, edit, approve, submit once, awards, participation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import anyio
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from market.factories import DrivenMarketClient
from tests.bidding.conftest import DAY
from tests.conftest import Caller, create_site
from vpp.bidding import repository, service
from vpp.bidding.planner import fleet_of
from vpp.domain.market import Bid, Clearing, Instruction, MarketOutlook, Receipt
from vpp.domain.units import Direction
from vpp.forecast.flexibility import simulate_energy
from vpp.models import JobRun
from vpp.optimize.disaggregation import plan_setpoints
from vpp.ports import ManualClock, MarketClient
from vpp.scheduler import MarketDay

BIG_BATTERY = {
    "name": "Big battery",
    "kind": "battery",
    "params": {"capacity_kwh": 8000, "charge_power_kw": 2000, "discharge_power_kw": 2000},
}
KILN = {
    "name": "Electric kiln",
    "kind": "curtailable_load",
    "params": {"nominal_kw": 1500, "min_kw": 300},
}
HOURS_TO_GATE = 2.0  # 08:00 -> 10:00 Beijing


def enroll(client: TestClient, caller: Caller, *assets: dict[str, Any]) -> list[str]:
    site = create_site(client, caller)
    ids = []
    for body in assets:
        response = client.post(
            "/v1/assets", json={**body, "site_id": site["id"]}, headers=caller.headers
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.fixture
def fleet(client: TestClient, enterprise: Caller, other_enterprise: Caller) -> dict[str, list[str]]:
    return {
        "a": enroll(client, enterprise, BIG_BATTERY),
        "b": enroll(client, other_enterprise, {**BIG_BATTERY, "name": "B battery"}, KILN),
    }


def draft(client: TestClient, operator: Caller, **body: Any) -> dict[str, dict[str, Any]]:
    response = client.post("/v1/bids", json={"day": str(DAY), **body}, headers=operator.headers)
    assert response.status_code == 201, response.text
    return {bid["product"]: bid for bid in response.json()}


def detail(client: TestClient, operator: Caller, bid_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/bids/{bid_id}", headers=operator.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def totals(ladder: list[dict[str, Any]]) -> list[float]:
    return [sum(s["quantity_kw"] for s in entry["steps"]) for entry in ladder]


def test_markets_list_every_pack_with_its_gate(client: TestClient, grid: Caller) -> None:
    response = client.get("/v1/markets", headers=grid.headers)
    assert response.status_code == 200
    products = {m["product"]: m for m in response.json()["items"]}
    assert {"peak_shaving.valley_fill", "peak_shaving.peak_cut", "spot.day_ahead.sell"} <= set(
        products
    )
    peak_cut = products["peak_shaving.peak_cut"]
    assert peak_cut["side"] == "down" and peak_cut["intervals_per_day"] == 96
    assert (
        peak_cut["gate_closure_for_tomorrow"].endswith("Z")
        or "+" in (peak_cut["gate_closure_for_tomorrow"])
    )
    assert products["green_power.day_ahead.buy"]["intervals_per_day"] == 24


def test_a_draft_offers_the_fleet_within_the_pack_and_every_asset_backs_it(
    client: TestClient, operator: Caller, fleet: dict[str, list[str]]
) -> None:
    bids = draft(client, operator)
    assert set(bids) == {"peak_shaving.valley_fill", "peak_shaving.peak_cut"}
    peak_cut = detail(client, operator, bids["peak_shaving.peak_cut"]["id"])
    assert peak_cut["state"] == "draft" and peak_cut["revision"] == 1
    assert len(peak_cut["ladder"]) == 96
    offered = totals(peak_cut["ladder"])
    assert peak_cut["offered_kwh"] == pytest.approx(sum(offered) * 0.25, abs=0.01)
    assert peak_cut["offered_kwh"] > 0
    # Offered intervals meet the pack's minimum (1000 kW) and step (100 kW).
    for quantity in offered:
        assert quantity == 0 or quantity >= 1000 - 1e-6
        assert abs(quantity / 100 - round(quantity / 100)) < 1e-6
    # Every price lies within the pack's floor and cap.
    prices = [s["price_cny_per_mwh"] for e in peak_cut["ladder"] for s in e["steps"]]
    assert prices and all(0 <= p <= 1500 for p in prices)


def test_edits_are_checked_against_the_pack_and_the_fleet(
    client: TestClient, operator: Caller, fleet: dict[str, list[str]]
) -> None:
    bid = draft(client, operator)["peak_shaving.peak_cut"]
    ladder = detail(client, operator, bid["id"])["ladder"]
    busy = next(i for i, q in enumerate(totals(ladder)) if q > 0)
    url = f"/v1/bids/{bid['id']}"

    def edited(interval: int, steps: list[dict[str, float]]) -> list[dict[str, Any]]:
        return [
            e if e["interval"] != interval else {"interval": interval, "steps": steps}
            for e in ladder
        ]

    over_cap = edited(busy, [{"price_cny_per_mwh": 99_999, "quantity_kw": 1000}])
    response = client.patch(
        url, json={"revision": 1, "intervals": over_cap}, headers=operator.headers
    )
    assert response.status_code == 422
    assert "price_cap" in {e["rule"] for e in response.json()["errors"]}

    too_much = edited(busy, [{"price_cny_per_mwh": 500, "quantity_kw": 100_000}])
    response = client.patch(
        url, json={"revision": 1, "intervals": too_much}, headers=operator.headers
    )
    assert response.status_code == 422
    assert "fleet_feasibility" in {e["rule"] for e in response.json()["errors"]}

    response = client.patch(
        url, json={"revision": 1, "intervals": ladder[:95]}, headers=operator.headers
    )
    assert response.status_code == 422
    assert "interval_count" in {e["rule"] for e in response.json()["errors"]}

    lowered = edited(busy, [{"price_cny_per_mwh": 900, "quantity_kw": 1000}])
    response = client.patch(
        url, json={"revision": 1, "intervals": lowered}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 2
    assert totals(response.json()["ladder"])[busy] == 1000

    stale = client.patch(url, json={"revision": 1, "intervals": ladder}, headers=operator.headers)
    assert stale.status_code == 409
    # Nothing of the refused edits stuck.
    assert detail(client, operator, bid["id"])["revision"] == 2


def test_submission_happens_once_and_needs_approval(
    client: TestClient, operator: Caller, fleet: dict[str, list[str]], market: MarketClient
) -> None:
    bid = draft(client, operator)["peak_shaving.peak_cut"]
    url = f"/v1/bids/{bid['id']}"
    refused = client.post(f"{url}/submit", headers=operator.headers)
    assert refused.status_code == 409

    assert client.post(f"{url}/approve", headers=operator.headers).json()["state"] == "approved"
    first = client.post(f"{url}/submit", headers=operator.headers)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "submitted"
    assert first.json()["receipt"]["accepted"] is True
    again = client.post(f"{url}/submit", headers=operator.headers)
    assert again.json()["receipt"] == first.json()["receipt"]

    assert isinstance(market, DrivenMarketClient)
    receipts = anyio.run(market.market.receipts, "vpp")
    assert len(receipts) == 1
    # A submitted bid no longer changes.
    assert client.post(f"{url}/approve", headers=operator.headers).status_code == 409


def test_after_gate_closure_nothing_is_drafted_or_approved(
    client: TestClient, operator: Caller, fleet: dict[str, list[str]], clock: ManualClock
) -> None:
    bid = draft(client, operator)["peak_shaving.valley_fill"]
    clock.advance(HOURS_TO_GATE * 3600 + 60)
    response = client.post(f"/v1/bids/{bid['id']}/approve", headers=operator.headers)
    assert response.status_code == 422
    assert {e["rule"] for e in response.json()["errors"]} == {"gate_closure"}
    response = client.post("/v1/bids", json={"day": str(DAY)}, headers=operator.headers)
    assert response.status_code == 409


def test_unknown_products_and_risk_settings_are_refused(
    client: TestClient, operator: Caller
) -> None:
    response = client.post(
        "/v1/bids", json={"day": str(DAY), "products": ["nope"]}, headers=operator.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "product_known"
    response = client.post(
        "/v1/bids", json={"day": str(DAY), "risk_quantile": 0.3}, headers=operator.headers
    )
    assert response.status_code == 422


def test_a_whole_day_is_awarded_by_the_scheduler_and_shared_among_assets(
    app: FastAPI,
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    fleet: dict[str, list[str]],
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    bids = draft(client, operator)
    for bid in bids.values():
        assert (
            client.post(f"/v1/bids/{bid['id']}/approve", headers=operator.headers).status_code
            == 200
        )
    day = MarketDay(app.state, session_factory)
    clock.advance(HOURS_TO_GATE * 3600 - 20 * 60)  # 09:40: submission window
    anyio.run(day.tick)
    anyio.run(day.tick)  # a second tick (or a second instance) submits nothing twice
    states = {p: detail(client, operator, b["id"])["state"] for p, b in bids.items()}
    assert set(states.values()) == {"submitted"}
    clock.advance(30 * 60)  # 10:10: after the gate, the market clears
    anyio.run(day.tick)
    awards = client.get("/v1/awards", params={"day": str(DAY)}, headers=operator.headers).json()
    states = {p: detail(client, operator, b["id"])["state"] for p, b in bids.items()}
    assert set(states.values()) <= {"awarded", "not_awarded"}
    assert "awarded" in states.values()
    awarded: dict[tuple[str, int], float] = {}
    for award in awards["items"]:
        key = (award["product"], award["interval"])
        awarded[key] = awarded.get(key, 0.0) + award["quantity_kw"]
    for product, bid in bids.items():
        offered = totals(detail(client, operator, bid["id"])["ladder"])
        for (p, interval), quantity in awarded.items():
            if p == product:
                assert quantity <= offered[interval] + 1e-6
    with session_factory() as session:
        runs = session.scalars(select(JobRun.job).where(JobRun.period == str(DAY))).all()
    # Drafted through the API, not by the scheduler; awards fetched, then the day planned.
    assert sorted(runs) == ["fetch_awards", "plan_dispatch"]

    assert_the_fleet_can_deliver(session_factory, awarded)
    assert_the_plan_meets_the_awards(client, operator, enterprise, fleet, awarded)

    # Each enterprise sees its own assets' share, and the shares add up to the awards.
    mine = client.get("/v1/participation", params={"day": str(DAY)}, headers=enterprise.headers)
    theirs = client.get(
        "/v1/participation", params={"day": str(DAY)}, headers=other_enterprise.headers
    )
    assert {i["asset_id"] for i in mine.json()["items"]} <= set(fleet["a"])
    assert {i["asset_id"] for i in theirs.json()["items"]} <= set(fleet["b"])
    everyone = client.get("/v1/participation", params={"day": str(DAY)}, headers=operator.headers)
    for (product, interval), quantity in awarded.items():
        shared = sum(
            i["awarded_kw"][interval] for i in everyone.json()["items"] if i["product"] == product
        )
        assert shared == pytest.approx(quantity, abs=0.01)


def assert_the_fleet_can_deliver(
    session_factory: sessionmaker[Session], awarded: dict[tuple[str, int], float]
) -> None:
    """A dispatch LP meets the awards on top of the firm schedules within every asset's
    power and energy limits, checked again by simulating each asset's energy path."""
    with session_factory() as session:
        assets = service.pool_assets(session, DAY, 0.1)
        firm = repository.firm_schedules(session, DAY)
    products = sorted({product for product, _ in awarded})
    award = np.zeros((len(products), 96))
    for (product, interval), quantity in awarded.items():
        award[products.index(product), interval] = quantity
    directions = [Direction.UP if p.endswith("valley_fill") else Direction.DOWN for p in products]
    firm_kw = np.array([[firm.get(a.asset_id, {}).get(t, 0.0) for t in range(96)] for a in assets])
    plan = plan_setpoints(fleet_of(assets), firm_kw, award, directions)
    assert plan.status.has_solution
    assert plan.shortfall_kw.max() <= 1e-3
    for i, asset in enumerate(assets):
        setpoint = plan.setpoint_kw[i]
        assert (setpoint >= asset.lo_kw - 1e-6).all() and (setpoint <= asset.hi_kw + 1e-6).all()
        energy = simulate_energy(asset.battery, setpoint)
        assert energy.min() >= asset.battery.e_min_kwh - 1e-3
        assert energy.max() <= asset.battery.e_max_kwh + 1e-3


def assert_the_plan_meets_the_awards(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    fleet: dict[str, list[str]],
    awarded: dict[tuple[str, int], float],
) -> None:
    """The scheduler planned the day: targets met without shortfall, setpoints queued to
    go out before their intervals, each enterprise seeing only its own assets' plan."""
    plan = client.get("/v1/dispatch/plan", params={"day": str(DAY)}, headers=operator.headers)
    assert plan.status_code == 200
    targets = {(t["product"], t["interval"]): t for t in plan.json()["targets"]}
    assert set(targets) == {key for key, kw in awarded.items() if kw > 0}
    for key, target in targets.items():
        assert target["awarded_kw"] == pytest.approx(awarded[key], abs=0.01)
        assert target["shortfall_kw"] == pytest.approx(0.0, abs=1e-3)
    assert {a["asset_id"] for a in plan.json()["assets"]} == set(fleet["a"] + fleet["b"])
    mine = client.get("/v1/dispatch/plan", params={"day": str(DAY)}, headers=enterprise.headers)
    assert mine.json()["targets"] == []
    assert {a["asset_id"] for a in mine.json()["assets"]} == set(fleet["a"])
    commands = client.get("/v1/commands", params={"limit": 500}, headers=operator.headers).json()[
        "items"
    ]
    planned = [c for c in commands if c["source"] == "plan"]
    assert planned, "the plan queued no setpoints"
    assert all(c["state"] == "pending" for c in planned)


class FailingMarket(MarketClient):
    """A market that answers outlooks but drops every submission (failure injection)."""

    participant = "vpp"

    def __init__(self, real: MarketClient) -> None:
        self.real = real

    async def outlook(self, product: str, day: date) -> MarketOutlook:
        return await self.real.outlook(product, day)

    async def submit(self, bid: Bid, idempotency_key: str) -> Receipt:
        raise ConnectionError("connection reset by peer")

    async def clearing(self, product: str, day: date) -> Clearing | None:
        raise TimeoutError("no answer in 10 s")

    async def instructions(self, since: datetime) -> Sequence[Instruction]:
        return ()


def test_a_failing_market_is_a_502_and_the_bid_stays_approved(
    app: FastAPI, client: TestClient, operator: Caller, fleet: dict[str, list[str]]
) -> None:
    bid = draft(client, operator)["peak_shaving.peak_cut"]
    assert client.post(f"/v1/bids/{bid['id']}/approve", headers=operator.headers).status_code == 200
    app.state.market = FailingMarket(app.state.market)
    response = client.post(f"/v1/bids/{bid['id']}/submit", headers=operator.headers)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "connection reset by peer" in response.json()["detail"]
    after = detail(client, operator, bid["id"])
    assert after["state"] == "approved" and after["receipt"] is None
