"""The cycle benchmark at a tiny size on PostgreSQL (`make bench` runs 1k/10k/100k)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cycle_bench as bench
from bench.core import Context


@pytest.mark.slow
@pytest.mark.postgres
def test_a_tiny_cycle_runs_every_stage_and_reports_it(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "sizes", lambda ctx: (40,))
    monkeypatch.setenv("VPP_COMPUTE", "")  # in process: no cluster to start here
    lines: list[str] = []
    context = Context(quick=True, workdir=tmp_path, pg_admin_url=pg_admin_url, log=lines.append)
    results = {r.name: r for r in bench.run(context)}
    assert set(results) == set(bench.metric_names(40))
    assert set(bench.metric_names(10_000)) <= set(bench.BENCHMARKS[0].metrics)
    day_ahead = sum(results[f"cycle_40_{s}_s"].value for s in ("forecast", "bid", "awards", "plan"))
    assert results["cycle_40_s"].value == pytest.approx(day_ahead)
    assert results["cycle_40_s"].target is None  # only 10,000 assets carry the 30 s target
    assert 0 < results["cycle_40_peak_rss_gib"].value < 8
    assert any("40 assets, 57,600 readings" in line for line in lines)  # 40 x 15 days x 96


def test_only_the_contract_sizes_carry_targets() -> None:
    stages = [bench.Stage(s, 1.0, 0.5) for s in bench.STAGES]
    small = {r.name: r for r in bench._results(1000, stages)}
    assert small["cycle_1000_s"].value == 4.0 and small["cycle_1000_s"].target is None
    assert small["intraday_1000_s"].value == 2.0
    assert {r.name: r for r in bench._results(10_000, stages)}["cycle_10000_s"].target == 30.0
    big = {r.name: r for r in bench._results(100_000, stages)}
    assert big["cycle_100000_peak_rss_gib"].target == 8.0
    assert big["cycle_100000_peak_rss_gib"].value == 0.5
