"""Per-asset, per-interval day tables read as arrays (`vpp.kit.daytable`), on both databases."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy.orm import Session

from tests.dispatch.park import add_asset, enterprise
from vpp.bidding.repository import (
    add_allocations,
    firm_matrix,
    offered_matrix,
    replace_firm_schedules,
)
from vpp.kit import daytable
from vpp.models import BidAllocation, BidRow

DAY = date(2026, 3, 10)


def test_rows_land_in_their_asset_and_interval_and_gaps_stay_zero(session: Session) -> None:
    account = enterprise(session, "Plant")
    a, b = sorted(
        (add_asset(session, account, name=f"battery {i}") for i in range(2)), key=lambda x: x.id
    )
    firm = np.zeros((2, 96))
    firm[0, 0], firm[0, 95], firm[1, 40], firm[1, 41] = -5.0, 7.5, 2.25, 1e-9
    # b's 1e-9 kW in interval 41 is below the tolerance: not written
    replace_firm_schedules(
        session, DAY, [a.id, b.id], [account, account], firm, np.abs(firm) > 1e-6
    )
    next_day = np.zeros((1, 96))
    next_day[0, 40] = 9.0
    replace_firm_schedules(session, date(2026, 3, 11), [a.id], [account], next_day, next_day != 0)

    ids, firm = firm_matrix(session, DAY)
    assert ids == [a.id, b.id]
    expected = np.zeros((2, 96))
    expected[0, 0], expected[0, 95], expected[1, 40] = -5.0, 7.5, 2.25
    np.testing.assert_array_equal(firm, expected)

    ids, one = firm_matrix(session, DAY, 40, 40)  # one interval: only b has a row in it
    assert (ids, one.tolist()) == ([b.id], [[2.25]])
    assert firm_matrix(session, date(2026, 3, 12))[1].shape == (0, 96)


def test_written_matrices_read_back_exactly(session: Session) -> None:
    """write_matrix and asset_matrix are inverses (bid allocations: keyed by a bid id),
    masked cells stay unwritten, and an all-false mask writes nothing."""
    account = enterprise(session, "Plant")
    assets = sorted(
        (add_asset(session, account, name=f"kiln {i}") for i in range(3)), key=lambda x: x.id
    )
    ids = [x.id for x in assets]
    row = BidRow(
        product="peak_shaving.peak_cut",
        pack_version="test",
        day=DAY,
        side="down",
        state="draft",
        risk_quantile=0.1,
        ladder=[],
        offered_kwh=0.0,
        expected_revenue_cny=0.0,
    )
    session.add(row)
    session.flush()
    bid = row.id
    rng = np.random.default_rng(1)
    capacity = rng.uniform(0, 100, (3, 96))
    offered = capacity * 0.5
    where = capacity > 30
    add_allocations(session, bid, ids, [account] * 3, capacity, offered, where)
    read_ids, read = offered_matrix(session, bid)
    assert read_ids == ids
    np.testing.assert_array_equal(read, np.where(where, offered, 0.0))
    written = daytable.write_matrix(
        session, BidAllocation.__table__, {"bid_id": bid}, ids, [account] * 3,  # type: ignore[arg-type]
        {"capacity_kw": capacity, "offered_kw": offered, "awarded_kw": capacity},
        np.zeros((3, 96), np.bool_),
    )  # fmt: skip
    assert written == 0
