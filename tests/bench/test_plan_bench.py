"""The intraday dispatch benchmark on small fleets (`make bench` runs the full sizes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import plan_bench
from bench.core import Context
from bench.databases import fresh_database


def test_replan_and_correction_cores_run_and_meet_the_target() -> None:
    seconds, met = plan_bench._replan_seconds(200, 1)
    assert seconds > 0 and met == 1.0
    assert plan_bench._correction_seconds(200, 1) > 0


def test_the_database_path_replans_delivers_and_corrects_a_small_park(tmp_path: Path) -> None:
    context = Context(quick=True, workdir=tmp_path, pg_admin_url=None, log=lambda _: None)
    with fresh_database(context, "plan_test", "sqlite") as url:
        park = plan_bench._seed_park(url, 60)
        try:
            timings = asyncio.run(plan_bench._intraday(park, repeats=2, corrections=1))
        finally:
            park.engine.dispose()
    assert len(timings.plan_s) == len(timings.plan_to_acked_s) == 2
    assert all(p <= a for p, a in zip(timings.plan_s, timings.plan_to_acked_s, strict=True))
    # Every command the two re-plans made due at 10:00 was acknowledged (checked inside).
    assert timings.acked >= timings.commands > 0
    assert len(timings.correction_s) == 1 and timings.corrections > 0


def test_delivered_share_counts_intervals_within_five_percent() -> None:
    # 96 of 100 is within 5 %, 105 on the edge, 94 and a missing measurement are not.
    rows = [(40, 100.0, 96.0), (41, 100.0, 105.0), (42, 100.0, 94.0), (43, 100.0, None)]
    assert plan_bench.delivered_share(rows) == 0.5
