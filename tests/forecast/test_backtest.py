"""The backtest on the vendored SimBench commercial profiles, and its pinned result."""

from __future__ import annotations

import pandas as pd
import pytest

from vpp.forecast import backtest
from vpp.forecast.backtest import BacktestResult, run_backtest
from vpp.forecast.datasets import (
    COMMERCIAL_PROFILES,
    SIMBENCH_2016_HOLIDAYS,
    read_commercial_profiles,
)

# Measured when the model was committed (median over profiles of the median daily NRMSE,
# days 36-366, issued D-1 10:00). The test fails if it worsens by more than 0.01.
PINNED_MODEL_NRMSE = 0.1750
PINNED_INTRADAY_NRMSE = 0.1620


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return run_backtest(
        read_commercial_profiles(),
        holidays=SIMBENCH_2016_HOLIDAYS,
        methods=(
            backtest.MODEL,
            backtest.MODEL_INTRADAY,
            *backtest.REFERENCES,
            "similar days 5 (Jiangsu)",
            "high 4 of 5",
        ),
    )


def test_the_vendored_extract_is_the_thirteen_profiles() -> None:
    frame = read_commercial_profiles()
    assert tuple(frame.columns) == COMMERCIAL_PROFILES
    assert frame.shape == (366 * 96, 13)
    assert frame.index[0] == pd.Timestamp("2016-01-01T00:00", tz="Asia/Shanghai")
    assert frame.index.is_monotonic_increasing
    assert frame.notna().all().all()


def test_reference_methods_reproduce_the_issue_numbers(result: BacktestResult) -> None:
    assert result.score("same weekday last week").nrmse == pytest.approx(0.244, abs=0.0005)
    assert result.score("mean of last 2 same weekdays").nrmse == pytest.approx(0.215, abs=0.0005)
    assert result.score("mean of last 4 same weekdays").nrmse == pytest.approx(0.199, abs=0.0005)


def test_model_nrmse_is_pinned(result: BacktestResult) -> None:
    model = result.score(backtest.MODEL)
    assert model.nrmse <= PINNED_MODEL_NRMSE + 0.01
    best_reference = min(result.score(name).nrmse for name in backtest.REFERENCES)
    assert model.nrmse < 0.9 * best_reference
    intraday = result.score(backtest.MODEL_INTRADAY)
    assert intraday.nrmse <= PINNED_INTRADAY_NRMSE + 0.01


def test_quantile_band_covers_75_to_85_percent(result: BacktestResult) -> None:
    coverage = result.score(backtest.MODEL).coverage
    assert coverage is not None
    assert 0.75 <= coverage <= 0.85
    pinball = result.score(backtest.MODEL).pinball
    assert pinball is not None and pinball > 0


def test_settlement_baselines_report_their_bias(result: BacktestResult) -> None:
    # "High X of Y" picks the highest days, so it over-estimates; the plain average does not.
    assert result.score("high 4 of 5").bias > 0.01
    assert abs(result.score("similar days 5 (Jiangsu)").bias) < 0.01
    assert abs(result.score(backtest.MODEL).bias) < 0.02


def test_table_lists_every_method(result: BacktestResult) -> None:
    table = result.table()
    for score in result.scores:
        assert score.method in table
    assert "NRMSE" in table
    assert len(result.profile_table().splitlines()) == len(result.scores) + 2


def test_main_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = backtest.main(["--method", "same weekday last week", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "same weekday last week" in out
    assert "0.244" in out


def test_main_reports_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code = backtest.main(["--data", "/nonexistent/profiles.csv", "--quiet"])
    assert code == 2
    assert "backtest failed" in capsys.readouterr().err
