"""Green-power awards become the enterprises' green contracts and certificates: by hand,
through the award fetch, idempotent, counted by the green report, ignored by settlement."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, make_settings
from tests.green.conftest import add_site
from tests.green.market import State, clearing, submitted_bid
from vpp.bidding import workflow
from vpp.bidding.registry import load_packs
from vpp.domain.time import day_bounds_utc, interval_starts_utc
from vpp.green.core.awards import award_gec_id, certificates_due, delivery_runs
from vpp.green.core.certificates import normalise_gec_id
from vpp.kit.errors import Problem
from vpp.models import BidRow, GreenCertificate, GreenContract
from vpp.ports import ManualClock
from vpp.settlement.jobs import settle_due
from vpp.settlement.service import settle_day
from vpp.telemetry.repository import insert_readings

BUY = "green_power.day_ahead.buy"
SELL = "green_power.day_ahead.sell"
MONTHLY = "green_power.monthly.buy"
DAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 9, 3, 0, tzinfo=UTC)  # 11:00 Beijing the day before: after clearing
PACKS = load_packs()


# --- the pure rules ------------------------------------------------------------------------


def test_runs_of_equal_power_per_owner_and_day_by_hand() -> None:
    profile = [0.0] * 24
    profile[10:14] = [500.0] * 4
    profile[14] = 200.0
    profile[20] = 500.0  # same power, not adjacent: a run of its own
    runs = delivery_runs({"A": profile, "B": [0.0] * 24}, [DAY], 24)
    start = day_bounds_utc(DAY)[0]
    assert [(r.owner, r.first_interval, r.intervals, r.power_kw, r.energy_kwh) for r in runs] == [
        ("A", 10, 4, 500.0, 2000.0),
        ("A", 14, 1, 200.0, 200.0),
        ("A", 20, 1, 500.0, 500.0),
    ]
    assert runs[0].start == start + timedelta(hours=10) == datetime(2026, 11, 10, 2, tzinfo=UTC)
    assert runs[0].end == datetime(2026, 11, 10, 6, tzinfo=UTC)
    # 96-interval resolution: a quarter-hour of 400 kW is 100 kWh
    quarter = [0.0] * 96
    quarter[5] = 400.0
    (run,) = delivery_runs({"A": quarter}, [DAY, DAY + timedelta(days=1)], 96)[:1]
    assert (run.energy_kwh, run.end - run.start) == (100.0, timedelta(minutes=15))
    assert len(delivery_runs({"A": quarter}, [DAY, DAY + timedelta(days=1)], 96)) == 2


def test_runs_refuse_bad_profiles() -> None:
    with pytest.raises(ValueError, match="expected 24"):
        delivery_runs({"A": [1.0] * 23}, [DAY], 24)
    with pytest.raises(ValueError, match=">= 0 kW"):
        delivery_runs({"A": [-1.0] + [0.0] * 23}, [DAY], 24)
    with pytest.raises(ValueError, match="divide a day"):
        delivery_runs({"A": [0.0] * 7}, [DAY], 7)


def test_certificates_are_whole_mwh_of_the_months_total() -> None:
    assert [certificates_due(kwh) for kwh in (0.0, 999.999, 1000.0, 2200.0, 3100.0)] == [
        0,
        0,
        1,
        2,
        3,
    ]
    with pytest.raises(ValueError, match="finite and >= 0"):
        certificates_due(-1.0)


def test_award_gec_ids_are_well_formed_and_distinct() -> None:
    month = date(2026, 11, 1)
    a1, a2 = award_gec_id("A", month, 1), award_gec_id("A", month, 2)
    b1 = award_gec_id("B", month, 1)
    assert normalise_gec_id(a1) == a1 and len({a1, a2, b1}) == 3
    assert a1[17:] == "202611000000001" and a1[:17] == a2[:17] != b1[:17]
    assert award_gec_id("A", month, 1) == a1  # deterministic
    with pytest.raises(ValueError, match="sequence"):
        award_gec_id("A", month, 0)


# --- through the award fetch ---------------------------------------------------------------


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def park(
    factory: sessionmaker[Session], a: Caller, b: Caller
) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
    """A with two loads, B with one; returns (asset, account) by name."""
    site_a = add_site(factory, a, {"a1": "curtailable_load", "a2": "curtailable_load"})
    site_b = add_site(factory, b, {"b1": "curtailable_load"})
    return {
        "a1": (site_a.assets["a1"], a.account_id),
        "a2": (site_a.assets["a2"], a.account_id),
        "b1": (site_b.assets["b1"], b.account_id),
    }


def fetch(state: State, factory: sessionmaker[Session], day: date) -> list[BidRow]:
    async def run() -> list[BidRow]:
        return await workflow.fetch_awards(state, factory, day)

    return anyio.run(run)


def contracts(factory: sessionmaker[Session], account_id: uuid.UUID) -> list[GreenContract]:
    with factory() as session:
        return list(
            session.scalars(
                select(GreenContract)
                .where(GreenContract.account_id == account_id)
                .order_by(GreenContract.delivery_start)
            )
        )


def certificates(factory: sessionmaker[Session], account_id: uuid.UUID) -> list[GreenCertificate]:
    with factory() as session:
        return list(
            session.scalars(
                select(GreenCertificate)
                .where(GreenCertificate.account_id == account_id)
                .order_by(GreenCertificate.gec_id)
            )
        )


@pytest.fixture
def state() -> State:
    return State(make_settings(), ManualClock(NOW), PACKS)


def test_a_green_purchase_award_becomes_contracts_and_certificates_once(
    state: State,
    session_factory: sessionmaker[Session],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    assets = park(session_factory, enterprise, other_enterprise)
    hours = range(10, 16)
    capacity = {
        assets["a1"]: {k: 300.0 for k in hours},
        assets["a2"]: {k: 200.0 for k in hours},
        assets["b1"]: {k: 500.0 for k in hours},
    }
    with session_factory() as session:
        bid_id = submitted_bid(session, BUY, DAY, "up", capacity)
        session.commit()
    # hours 10-13: 1,000 kW of the 1,000 kW box; hour 14: 400 kW (40 %); hour 15: nothing
    state.published.publish(
        clearing(BUY, DAY, {10: 1000, 11: 1000, 12: 1000, 13: 1000, 14: 400}, 350)
    )
    (row,) = fetch(state, session_factory, DAY)
    assert row.state == "awarded"
    for caller in (enterprise, other_enterprise):
        # each enterprise backs half: 500 kW for 4 h = 2,000 kWh, then 200 kW for 1 h
        got = [
            (c.delivery_start, c.delivery_end, round(c.energy_kwh, 6), c.source)
            for c in contracts(session_factory, caller.account_id)
        ]
        assert got == [
            (
                datetime(2026, 11, 10, 2, tzinfo=UTC),
                datetime(2026, 11, 10, 6, tzinfo=UTC),
                2000.0,
                "award",
            ),
            (
                datetime(2026, 11, 10, 6, tzinfo=UTC),
                datetime(2026, 11, 10, 7, tzinfo=UTC),
                200.0,
                "award",
            ),
        ]
        # 2,200 kWh carry 2 whole GECs, produced in November, valid two years
        certs = certificates(session_factory, caller.account_id)
        assert [(c.production_month, c.valid_until, c.energy_kwh) for c in certs] == [
            (date(2026, 11, 1), date(2028, 10, 31), 1000.0)
        ] * 2
        assert {c.gec_id for c in certs} == {
            award_gec_id(str(caller.account_id), date(2026, 11, 1), n) for n in (1, 2)
        }
    assert count(session_factory, GreenContract) == 4
    # Fetching again (the bid is awarded now) asks the market nothing and creates nothing;
    # storing the same clearing again creates nothing either.
    assert fetch(state, session_factory, DAY) == []
    with session_factory() as session:
        session.get_one(BidRow, bid_id).state = "submitted"
        session.commit()
    fetch(state, session_factory, DAY)
    assert state.published.fetched[(BUY, DAY)] == 2
    assert count(session_factory, GreenContract) == 4
    assert count(session_factory, GreenCertificate) == 4

    # The next day's award adds 1,000 kWh for each: 3,200 kWh in November, a third GEC.
    next_day = DAY + timedelta(days=1)
    with session_factory() as session:
        submitted_bid(
            session,
            BUY,
            next_day,
            "up",
            {assets["a1"]: {8: 500.0, 9: 500.0}, assets["b1"]: {8: 500.0, 9: 500.0}},
        )
        session.commit()
    state.published.publish(clearing(BUY, next_day, {8: 1000.0, 9: 1000.0}, 340))
    fetch(state, session_factory, next_day)
    for caller in (enterprise, other_enterprise):
        certs = certificates(session_factory, caller.account_id)
        assert len(certs) == 3
        newest = award_gec_id(str(caller.account_id), date(2026, 11, 1), 3)
        (third,) = [c for c in certs if c.gec_id == newest]
        (contract,) = [
            c for c in contracts(session_factory, caller.account_id) if c.id == third.contract_id
        ]
        assert contract.delivery_start == datetime(2026, 11, 11, 0, tzinfo=UTC)


def test_other_awards_record_no_green_power(
    state: State,
    session_factory: sessionmaker[Session],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    assets = park(session_factory, enterprise, other_enterprise)
    with session_factory() as session:
        submitted_bid(session, SELL, DAY, "down", {assets["a1"]: {12: 300.0}})
        submitted_bid(
            session, "peak_shaving.peak_cut", DAY, "down", {assets["b1"]: {72: 500.0}}, 96
        )
        session.commit()
    state.published.publish(clearing(SELL, DAY, {12: 300.0}, 300))
    state.published.publish(clearing("peak_shaving.peak_cut", DAY, {72: 500.0}, 400, 96))
    rows = fetch(state, session_factory, DAY)
    assert sorted(r.state for r in rows) == ["awarded", "awarded"]
    assert count(session_factory, GreenContract) == 0
    assert count(session_factory, GreenCertificate) == 0


def test_a_monthly_award_is_delivered_every_day_of_the_month(
    state: State,
    session_factory: sessionmaker[Session],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    assets = park(session_factory, enterprise, other_enterprise)
    december = date(2026, 12, 1)
    with session_factory() as session:
        submitted_bid(session, MONTHLY, december, "up", {assets["a1"]: {12: 100.0, 13: 100.0}})
        session.commit()
    state.published.publish(clearing(MONTHLY, december, {12: 100.0, 13: 100.0}, 330))
    fetch(state, session_factory, december)
    got = contracts(session_factory, enterprise.account_id)
    # 100 kW for 2 h every day: 31 contracts of 200 kWh, 6,200 kWh: 6 whole GECs
    assert len(got) == 31
    assert [c.energy_kwh for c in got] == [pytest.approx(200.0)] * 31
    assert got[-1].delivery_start == datetime(2026, 12, 31, 4, tzinfo=UTC)
    assert len(certificates(session_factory, enterprise.account_id)) == 6
    assert contracts(session_factory, other_enterprise.account_id) == []


def test_the_green_report_counts_awarded_green_power(
    state: State,
    client: TestClient,
    session_factory: sessionmaker[Session],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    assets = park(session_factory, enterprise, other_enterprise)
    a1 = assets["a1"][0]
    with session_factory() as session:  # A draws 1,000 kW all day on 10 Nov
        insert_readings(
            session,
            [
                (a1, ts.to_pydatetime(), 1000.0, None, None, None, "good")
                for ts in interval_starts_utc(DAY)
            ],
        )
        submitted_bid(session, BUY, DAY, "up", {assets["a1"]: {k: 500.0 for k in range(10, 15)}})
        session.commit()
    state.published.publish(clearing(BUY, DAY, {k: 500.0 for k in range(10, 15)}, 350))
    fetch(state, session_factory, DAY)
    report = client.get(
        "/v1/green/report", params={"month": "2026-11"}, headers=enterprise.headers
    ).json()
    (own,) = report["enterprises"]
    matching = own["matching_15min"]
    # 500 kW x 5 h = 2,500 kWh contracted, all within the 1,000 kW load; 2 GECs prove 2 MWh
    assert matching["load_kwh"] == pytest.approx(24_000.0)
    assert matching["contract_kwh"] == pytest.approx(2500.0)
    assert matching["contract_matched_kwh"] == pytest.approx(2500.0)
    assert matching["contract_green_kwh"] == pytest.approx(2000.0)
    assert matching["green_share"] == pytest.approx(2000.0 / 24_000.0)
    assert len(own["certificates_used"]) == 2
    other = client.get(
        "/v1/green/report", params={"month": "2026-11"}, headers=other_enterprise.headers
    ).json()
    assert other["enterprises"][0]["matching_15min"]["contract_kwh"] == 0.0
    assert other["enterprises"][0]["certificates_used"] == []


def test_settlement_leaves_green_power_awards_to_the_green_ledger(
    state: State,
    session_factory: sessionmaker[Session],
    enterprise: Caller,
    other_enterprise: Caller,
) -> None:
    assets = park(session_factory, enterprise, other_enterprise)
    with session_factory() as session:
        submitted_bid(session, BUY, DAY, "up", {assets["a1"]: {10: 500.0}})
        session.commit()
    state.published.publish(clearing(BUY, DAY, {10: 500.0}, 350))
    fetch(state, session_factory, DAY)
    later = day_bounds_utc(DAY)[1] + timedelta(hours=12)
    settings = make_settings()
    # the scheduled settlement has nothing to settle on a day of green-power awards only
    assert settle_due(session_factory, PACKS, later, settings) == []
    with session_factory() as session, pytest.raises(Problem) as refused:
        settle_day(session, PACKS, DAY, later, settings)
    assert refused.value.status == 422 and "no awards to settle" in refused.value.detail
