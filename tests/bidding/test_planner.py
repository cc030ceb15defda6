"""The planner's rule against counter-positions in response windows (pure)."""

from __future__ import annotations

import numpy as np

from vpp.bidding.planner import without_counter_positions


def test_firm_schedules_cannot_move_against_an_open_response_window() -> None:
    lo = np.array([[-100.0, -100.0, -100.0, -100.0], [0.0, 0.0, 0.0, 0.0]])
    hi = np.array([[80.0, 80.0, 80.0, 80.0], [50.0, 50.0, 50.0, 50.0]])
    up_open = np.array([True, False, True, False])
    down_open = np.array([False, True, True, False])
    new_lo, new_hi = without_counter_positions(lo, hi, up_open, down_open)
    # Interval 0 (valley filling only): nothing may fall below the baseline.
    assert new_lo[:, 0].tolist() == [0.0, 0.0] and new_hi[:, 0].tolist() == [80.0, 50.0]
    # Interval 1 (peak cutting only): nothing may rise above it.
    assert new_hi[:, 1].tolist() == [0.0, 0.0] and new_lo[:, 1].tolist() == [-100.0, 0.0]
    # Both open, or neither: the asset's own bounds.
    for t in (2, 3):
        assert (new_lo[:, t] == lo[:, t]).all() and (new_hi[:, t] == hi[:, t]).all()
    assert (new_lo <= new_hi).all()
