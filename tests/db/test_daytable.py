"""Per-asset, per-interval day tables read as arrays (`vpp.kit.daytable`), on both databases."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy.orm import Session

from tests.dispatch.park import add_asset, enterprise
from vpp.bidding.repository import firm_matrix, replace_firm_schedules

DAY = date(2026, 3, 10)


def test_rows_land_in_their_asset_and_interval_and_gaps_stay_zero(session: Session) -> None:
    account = enterprise(session, "Plant")
    a, b = sorted(
        (add_asset(session, account, name=f"battery {i}") for i in range(2)), key=lambda x: x.id
    )
    replace_firm_schedules(
        session,
        DAY,
        [
            (DAY, a.id, 0, account, -5.0),
            (DAY, a.id, 95, account, 7.5),
            (DAY, b.id, 40, account, 2.25),
        ],
    )
    replace_firm_schedules(
        session, date(2026, 3, 11), [(date(2026, 3, 11), a.id, 40, account, 9.0)]
    )

    ids, firm = firm_matrix(session, DAY)
    assert ids == [a.id, b.id]
    expected = np.zeros((2, 96))
    expected[0, 0], expected[0, 95], expected[1, 40] = -5.0, 7.5, 2.25
    np.testing.assert_array_equal(firm, expected)

    ids, one = firm_matrix(session, DAY, 40, 40)  # one interval: only b has a row in it
    assert (ids, one.tolist()) == ([b.id], [[2.25]])
    assert firm_matrix(session, date(2026, 3, 12))[1].shape == (0, 96)
