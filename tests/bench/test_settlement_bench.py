"""The settlement benchmark's month on a small pool: it settles, balances and flags its gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import settlement_bench as bench
from bench.core import Context


def test_a_small_month_settles_every_awarded_day_and_balances() -> None:
    month = bench.build_month(60)
    assert len(month.accounts) == 3
    summary = bench.settle_month(month)
    # every working day of March 2026 after Sunday the 1st has awards: 21 days
    assert summary.days == len(month.products) == 21
    assert summary.records == summary.days * (len(month.accounts) + 2)
    assert summary.enterprises_net_fen + summary.aggregator_fen == summary.pool_net_fen
    assert summary.flagged > 0


def test_a_run_reports_its_size_and_only_10000_assets_carry_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = bench.build_month
    monkeypatch.setattr(bench, "build_month", lambda n, seed=11: build(40, seed))
    context = Context(quick=True, workdir=tmp_path, pg_admin_url=None, log=lambda _: None)
    (result,) = bench.run(context)
    assert result.name == "settlement_month_1000_s" and result.target is None
    assert result.value > 0 and "21 awarded days" in result.note
