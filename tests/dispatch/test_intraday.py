"""Intraday targets, re-planning and the per-minute correction, on two batteries by hand.

Two identical batteries (±100 kW, energy never binding) share a peak-cut award of
100 kW in interval 40 (10:00-10:15 Beijing) at -50 kW each; the service clock is 10:05.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.dispatch.park import PEAK_CUT, add_asset, award, enterprise, reading, store_plan
from vpp.bidding.registry import load_packs
from vpp.dispatch.intraday import ReplanSummary, apply_targets, correct, replan
from vpp.dispatch.repository import transition
from vpp.dispatch.service import PlannedSetpoint, enqueue_many
from vpp.domain.commands import CommandState
from vpp.kit.errors import Problem
from vpp.models import Asset, CommandEvent, PlannedSetpointRow, PoolTarget, SetpointCommandRow
from vpp.ports import MarketPack

DAY = date(2026, 3, 10)
START_40 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
NOW = START_40 + timedelta(minutes=5)


@pytest.fixture(scope="module")
def packs() -> dict[str, MarketPack]:
    return load_packs()


@pytest.fixture
def batteries(session: Session) -> list[Asset]:
    account = enterprise(session, "Plant")
    assets = [add_asset(session, account, name=f"battery {i}") for i in range(2)]
    store_plan(session, DAY, assets, {(0, 40): -50.0, (1, 40): -50.0})
    award(session, DAY, PEAK_CUT, {40: 100.0})
    enqueue_many(
        session,
        [
            PlannedSetpoint(
                a.id, a.account_id, "simulated", START_40, -50.0, START_40 + timedelta(minutes=15)
            )
            for a in assets
        ],
        START_40 - timedelta(minutes=1),
        "plan",
    )
    return assets


def plan_of(session: Session, asset: Asset, interval: int) -> float:
    row = session.get(PlannedSetpointRow, (DAY, asset.id, interval))
    assert row is not None
    return round(row.deviation_kw, 3)


def commands(session: Session) -> list[tuple[str, str, float, datetime]]:
    rows = session.scalars(
        select(SetpointCommandRow).order_by(
            SetpointCommandRow.source,
            SetpointCommandRow.interval_start,
            SetpointCommandRow.power_kw,
        )
    )
    return [(r.source, r.state, r.power_kw, r.next_attempt_at) for r in rows]


def target(session: Session, product: str, interval: int) -> PoolTarget:
    row = session.get(PoolTarget, (DAY, product, interval))
    assert row is not None
    return row


def test_new_targets_are_shared_fairly_and_revise_unsent_commands(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    for battery in batteries:
        reading(session, battery, NOW - timedelta(minutes=1), -50.0, 5000.0)
    feasible = apply_targets(session, packs, DAY, PEAK_CUT, {40: 150.0, 41: 60.0}, NOW)
    assert feasible == {40: 150.0, 41: 60.0}
    # 150 kW: each battery gives the same share of its headroom, 50 of 50 -> -75 each.
    assert [plan_of(session, b, 40) for b in batteries] == [-75.0, -75.0]
    assert [plan_of(session, b, 41) for b in batteries] == [-30.0, -30.0]
    new_41 = START_40 + timedelta(minutes=14)  # a minute before interval 41 starts
    # No sender took the plan's commands yet: they are revised in place, not duplicated.
    due = START_40 - timedelta(minutes=1)  # as the plan's commands were: overdue now
    assert commands(session) == [
        ("replan", "pending", -75.0, due),
        ("replan", "pending", -75.0, due),
        ("replan", "pending", -30.0, new_41),
        ("replan", "pending", -30.0, new_41),
    ]
    details = sorted(
        (r.interval_start, r.detail) for r in session.scalars(select(SetpointCommandRow))
    )
    assert [detail for _, detail in details] == ["revised (replan)"] * 2 + [""] * 2
    created = target(session, PEAK_CUT, 41)
    assert (created.awarded_kw, created.target_kw, created.planned_kw) == (0.0, 60.0, 60.0)
    assert target(session, PEAK_CUT, 40).awarded_kw == 100.0


def test_sent_commands_are_superseded_by_new_ones(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    sent = list(session.scalars(select(SetpointCommandRow.id)))
    transition(session, sent, CommandState.SENT, NOW - timedelta(minutes=4), attempts={})
    session.execute(update(SetpointCommandRow).values(attempts=1))
    for battery in batteries:
        reading(session, battery, NOW - timedelta(minutes=1), -50.0, 5000.0)
    summary = replan_after(session, packs, {40: 150.0})
    assert (summary.superseded, summary.commands) == (2, 2)
    assert commands(session) == [
        ("plan", "superseded", -50.0, START_40 - timedelta(minutes=1)),
        ("plan", "superseded", -50.0, START_40 - timedelta(minutes=1)),
        ("replan", "pending", -75.0, NOW),
        ("replan", "pending", -75.0, NOW),
    ]
    events = session.scalars(
        select(CommandEvent.state).where(CommandEvent.command_id.in_(sent))
    ).all()
    assert sorted(events) == ["sent", "sent", "superseded", "superseded"]


def replan_after(
    session: Session, packs: dict[str, MarketPack], targets: dict[int, float]
) -> ReplanSummary:
    for interval, kw in targets.items():
        target(session, PEAK_CUT, interval).target_kw = kw
    session.flush()
    return replan(session, packs, DAY, NOW)


def test_an_offline_asset_takes_no_effort_and_the_shortfall_is_reported(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    a, b = batteries
    reading(session, a, NOW - timedelta(minutes=1), -50.0, 5000.0)
    reading(session, b, NOW - timedelta(minutes=4), -50.0, 5000.0)  # stale: offline
    feasible = apply_targets(session, packs, DAY, PEAK_CUT, {40: 150.0, 41: 60.0}, NOW)
    assert feasible == {40: 100.0, 41: 60.0}
    assert (plan_of(session, a, 40), plan_of(session, b, 40)) == (-100.0, 0.0)
    assert (plan_of(session, a, 41), plan_of(session, b, 41)) == (-60.0, 0.0)
    row = target(session, PEAK_CUT, 40)
    assert (row.target_kw, row.planned_kw, row.shortfall_kw) == (150.0, 100.0, 50.0)
    states = [(source, state, kw) for source, state, kw, _ in commands(session)]
    assert states == [
        ("plan", "superseded", -50.0),  # b's, written off
        ("replan", "pending", -100.0),  # a's, revised
        ("replan", "pending", -60.0),
    ]


def test_replan_without_changes_queues_nothing(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    for battery in batteries:
        reading(session, battery, NOW - timedelta(minutes=1), -50.0, 5000.0)
    summary = replan(session, packs, DAY, NOW)
    assert (summary.from_interval, summary.assets, summary.online) == (40, 2, 2)
    assert (summary.commands, summary.superseded) == (0, 0)
    assert summary.shortfall_kw == {PEAK_CUT: {40: 0.0}}


@pytest.mark.parametrize(
    ("product", "targets", "rule"),
    [
        ("no_such.product", {41: 10.0}, "known_product"),
        (PEAK_CUT, {39: 10.0}, "not_past"),
        (PEAK_CUT, {96: 10.0}, "interval_range"),
        (PEAK_CUT, {41: -1.0}, "target_range"),
        (PEAK_CUT, {41: float("nan")}, "target_range"),
        (PEAK_CUT, {41: 1e9}, "target_range"),
    ],
)
def test_bad_targets_are_refused_and_change_nothing(
    session: Session,
    packs: dict[str, MarketPack],
    batteries: list[Asset],
    product: str,
    targets: dict[int, float],
    rule: str,
) -> None:
    with pytest.raises(Problem) as raised:
        apply_targets(session, packs, DAY, product, {40: 120.0, **targets}, NOW)
    assert raised.value.status == 422
    assert raised.value.errors[0]["rule"] == rule
    assert target(session, PEAK_CUT, 40).target_kw == 100.0
    assert session.get(PoolTarget, (DAY, PEAK_CUT, 41)) is None


def test_correction_covers_a_lagging_asset_and_gives_back_when_it_recovers(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    a, b = batteries
    reading(session, a, NOW - timedelta(seconds=30), -50.0)
    reading(session, b, NOW - timedelta(seconds=30), 0.0)  # ignores its setpoint
    summary = correct(session, packs, NOW)
    assert (summary.interval, summary.lagging, summary.offline, summary.commands) == (40, 1, 0, 1)
    assert summary.shortfall_kw == {PEAK_CUT: 0.0}
    assert (plan_of(session, a, 40), plan_of(session, b, 40)) == (-100.0, -50.0)
    # A minute later b follows again: 150 kW is 50 too many, taken back in proportion
    # to each asset's response (100 : 50).
    later = NOW + timedelta(minutes=1)
    reading(session, a, later - timedelta(seconds=30), -100.0)
    reading(session, b, later - timedelta(seconds=30), -50.0)
    summary = correct(session, packs, later)
    assert (summary.lagging, summary.commands) == (0, 2)
    assert (plan_of(session, a, 40), plan_of(session, b, 40)) == (-66.667, -33.333)


def test_correction_writes_off_an_offline_asset(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    a, b = batteries
    reading(session, a, NOW - timedelta(seconds=30), -50.0)
    summary = correct(session, packs, NOW)
    assert (summary.offline, summary.commands) == (1, 1)
    assert (plan_of(session, a, 40), plan_of(session, b, 40)) == (-100.0, 0.0)
    states = sorted(
        (r.asset_id == b.id, r.state) for r in session.scalars(select(SetpointCommandRow))
    )
    assert states == [(False, "pending"), (True, "superseded")]  # a's revised, b's withdrawn


def test_correction_outside_awarded_intervals_does_nothing(
    session: Session, packs: dict[str, MarketPack], batteries: list[Asset]
) -> None:
    summary = correct(session, packs, NOW + timedelta(hours=1))
    assert (summary.interval, summary.assets, summary.commands) == (44, 0, 0)
