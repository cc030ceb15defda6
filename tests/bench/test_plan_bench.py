"""The intraday dispatch benchmark's cores on a small fleet (`make bench` runs the full sizes)."""

from __future__ import annotations

from bench import plan_bench


def test_replan_and_correction_cores_run_and_meet_the_target() -> None:
    seconds, met = plan_bench._replan_seconds(200, 1)
    assert seconds > 0 and met == 1.0
    assert plan_bench._correction_seconds(200, 1) > 0
