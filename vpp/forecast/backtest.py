"""Backtest: replay measured load day by day and score every forecast and baseline method.

Day-ahead methods only see what is measured when the forecast is issued (D-1 at
`LoadModelConfig.known_intervals`, default 10:00); settlement baselines are scored ex post,
as a settlement would compute them (all days before D, same-day morning for the adjusted
rule), against the load of a day without event. The acceptance measure (issue 4) is the
median over profiles of each profile's median daily NRMSE, a day's NRMSE being its RMSE
over the profile's yearly mean load, on days 36-366.

`main(argv)` is the `vpp backtest` command.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from vpp.domain import INTERVALS_PER_DAY
from vpp.forecast import metrics
from vpp.forecast.baselines import (
    Baseline,
    MorningAdjustment,
    high_x_of_y_matrix,
    similar_days_matrix,
)
from vpp.forecast.calendar import FloatArray
from vpp.forecast.datasets import (
    SIMBENCH_2016_HOLIDAYS,
    VENDORED_COMMERCIAL,
    read_commercial_profiles,
    simbench_loadprofile_path,
)
from vpp.forecast.model import LoadHistory, LoadModelConfig, WalkForward, walk_forward

Progress = Callable[[str, int, int], None]

DAY_AHEAD = "day-ahead"
INTRADAY = "intraday 1 h"
SETTLEMENT = "settlement"

MODEL = "ridge model"
MODEL_INTRADAY = "ridge model + intraday"
REFERENCES = {
    "same weekday last week": (7,),
    "mean of last 2 same weekdays": (7, 14),
    "mean of last 4 same weekdays": (7, 14, 21, 28),
}
SETTLEMENT_RULES = (
    "similar days 5 (Jiangsu)",
    "high 4 of 5",
    "high 5 of 10 (Beijing)",
    "10 of 10 + adjustment (CAISO)",
)
ALL_METHODS = (MODEL, MODEL_INTRADAY, *REFERENCES, *SETTLEMENT_RULES)
INTRADAY_LEAD_INTERVALS = 5
"""Interval t is re-forecast with measurements up to t - 5: issued at the start of t - 4."""


@dataclass(frozen=True)
class MethodScore:
    """Scores of one method over the scored days and profiles."""

    method: str
    horizon: str
    mae_kw: float
    nmae: float
    nrmse: float
    """Median over profiles of the median daily NRMSE (the acceptance measure)."""
    nrmse_pooled: float
    """Median daily NRMSE over all profile-days."""
    bias: float
    """Mean error over mean load (fraction); > 0 over-estimates."""
    pinball: float | None
    """Mean pinball loss over the quantiles, relative to each profile's mean load."""
    coverage: float | None
    """Share of outcomes inside the P10-P90 band."""
    per_profile: tuple[float, ...]
    """Median daily NRMSE per profile."""


@dataclass(frozen=True)
class BacktestResult:
    """All scores of a backtest run."""

    profiles: tuple[str, ...]
    first_scored: date
    last_scored: date
    scores: tuple[MethodScore, ...]

    def score(self, method: str) -> MethodScore:
        """The score of `method` (KeyError if it was not run)."""
        for s in self.scores:
            if s.method == method:
                return s
        raise KeyError(method)

    def table(self) -> str:
        """The scores as a fixed-width text table."""
        head = (
            f"{'method':<32}{'horizon':<14}{'MAE':>9}{'nMAE':>8}{'NRMSE':>8}"
            f"{'pooled':>8}{'bias':>8}{'pinball':>9}{'P10-P90':>9}"
        )
        lines = [head, "-" * len(head)]
        for s in self.scores:
            pin = "-" if s.pinball is None else f"{s.pinball:.4f}"
            cov = "-" if s.coverage is None else f"{s.coverage:.1%}"
            lines.append(
                f"{s.method:<32}{s.horizon:<14}{s.mae_kw:>9.4f}{s.nmae:>8.3f}{s.nrmse:>8.3f}"
                f"{s.nrmse_pooled:>8.3f}{s.bias:>+8.1%}{pin:>9}{cov:>9}"
            )
        return "\n".join(lines)

    def profile_table(self) -> str:
        """Median daily NRMSE per profile and method."""
        head = f"{'method':<32}" + "".join(f"{p:>7}" for p in self.profiles)
        lines = [head, "-" * len(head)]
        for s in self.scores:
            lines.append(f"{s.method:<32}" + "".join(f"{v:>7.3f}" for v in s.per_profile))
        return "\n".join(lines)


def _score(
    method: str,
    horizon: str,
    forecast: FloatArray,
    actual: FloatArray,
    scale: FloatArray,
    quantiles: tuple[FloatArray, Sequence[float]] | None = None,
) -> MethodScore:
    daily = metrics.daily_nrmse(forecast, actual, scale)
    pinball = coverage = None
    if quantiles is not None:
        qs, levels = quantiles
        norm = scale[:, None, None, None]
        pinball = metrics.pinball_loss(qs / norm, actual / scale[:, None, None], levels)
        lo, hi = list(levels).index(0.1), list(levels).index(0.9)
        coverage = metrics.coverage(qs[:, lo], qs[:, hi], actual)
    return MethodScore(
        method=method,
        horizon=horizon,
        mae_kw=metrics.mae(forecast, actual),
        nmae=metrics.nmae(forecast, actual),
        nrmse=metrics.median_nrmse(daily),
        nrmse_pooled=metrics.pooled_median_nrmse(daily),
        bias=metrics.bias(forecast, actual),
        pinball=pinball,
        coverage=coverage,
        per_profile=tuple(float(v) for v in metrics.per_profile_nrmse(daily)),
    )


def _lagged_mean(values: FloatArray, lags: Sequence[int]) -> FloatArray:
    """Mean of the same interval `lags` days earlier (the issue's simple references)."""
    out = np.zeros_like(values)
    for lag in lags:
        shifted = np.full_like(values, np.nan)
        shifted[:, lag:] = values[:, :-lag]
        out += shifted
    return out / len(lags)


def _nan_window_mean(resid: FloatArray, end: int, width: int) -> FloatArray:
    part = resid[..., max(0, end - width + 1) : end + 1]
    finite = np.isfinite(part)
    n = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(finite, part, 0.0).sum(axis=-1) / np.maximum(n, 1), 0.0)


def intraday_replay(
    values: FloatArray, wf: WalkForward, lead: int = INTRADAY_LEAD_INTERVALS
) -> tuple[FloatArray, FloatArray]:
    """Rolling re-forecast of each interval t from the measurements up to t - lead.

    Same rule as `vpp.forecast.model.update_intraday`: day-ahead + ρ^h·e + (1-ρ^h)·γ·ē4h,
    bands narrowed by sqrt(1 - ρ^(2h)), h = lead. The first `lead` intervals of a day keep
    the day-ahead forecast (the replay does not carry residuals over midnight).
    Returns (mean, quantiles) shaped like the walk-forward's.
    """
    resid = values - wf.mean_kw
    mean = wf.mean_kw.copy()
    quant = wf.quantile_kw.copy()
    decay = wf.ar_rho**lead  # (A, D)
    narrow = np.sqrt(np.maximum(1.0 - wf.ar_rho ** (2 * lead), 0.0))
    for t in range(lead, INTERVALS_PER_DAY):
        j = t - lead
        last = resid[..., j]
        recent = _nan_window_mean(resid, j, 16)
        last = np.where(np.isfinite(last), last, recent)
        corr = decay * last + (1.0 - decay) * wf.level_gain * recent
        mean[..., t] += corr
        spread = wf.quantile_kw[..., t] - wf.mean_kw[:, None, :, t]
        quant[..., t] = mean[:, None, :, t] + spread * narrow[:, None, :]
    return mean, quant


def _settlement(
    rule: str,
    days: Sequence[date],
    values: FloatArray,
    rows: Sequence[int],
    holidays: frozenset[date],
    progress: Progress | None,
) -> FloatArray:
    out = np.full_like(values, np.nan)
    adjustment = MorningAdjustment(start_interval=40, end_interval=52)  # event from 14:00
    total = values.shape[0] * len(rows)
    done = 0
    for a in range(values.shape[0]):
        matrix = values[a]
        for d in rows:
            base: Baseline
            if rule == SETTLEMENT_RULES[0]:
                base = similar_days_matrix(days, matrix, d, n_days=5, holidays=holidays)
            elif rule == SETTLEMENT_RULES[1]:
                base = high_x_of_y_matrix(days, matrix, d, x=4, y=5, holidays=holidays)
            elif rule == SETTLEMENT_RULES[2]:
                base = high_x_of_y_matrix(
                    days, matrix, d, x=5, y=10, first_lag_days=2, holidays=holidays
                )
            else:
                base = high_x_of_y_matrix(
                    days, matrix, d, x=10, y=10, adjustment=adjustment, holidays=holidays
                )
            out[a, d] = base.power_kw
            done += 1
        if progress is not None:
            progress(rule, done, total)
    return out


def run_backtest(
    frame: pd.DataFrame,
    *,
    holidays: frozenset[date] = frozenset(),
    config: LoadModelConfig | None = None,
    first_scored_day: int = 36,
    methods: Collection[str] = ALL_METHODS,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay `frame` (15-min load per column, kW, UTC index) and score `methods`.

    Scored days are the `first_scored_day`-th (1-based) to the last day of the data;
    earlier days only serve as history. The scale of a profile's NRMSE is its mean load
    over the whole data (the "yearly mean" of the acceptance rule).
    """
    config = config or LoadModelConfig()
    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        raise ValueError(f"unknown methods: {sorted(unknown)}")
    history = LoadHistory.from_series({str(c): frame[c] for c in frame.columns})
    values = history.power_kw
    days = history.days
    first = first_scored_day - 1
    if not 0 < first < len(days):
        raise ValueError("first_scored_day must fall inside the data, after day 1")
    scale = np.nanmean(values.reshape(values.shape[0], -1), axis=1)
    scored = np.full_like(values, np.nan)
    scored[:, first:] = values[:, first:]
    scores: list[MethodScore] = []

    if MODEL in methods or MODEL_INTRADAY in methods:

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(MODEL, done, total)

        wf = walk_forward(
            values,
            days,
            config,
            holidays=holidays,
            start=min(first, 14),
            progress=step,
        )
        levels = config.quantiles
        if MODEL in methods:
            scores.append(
                _score(MODEL, DAY_AHEAD, wf.mean_kw, scored, scale, (wf.quantile_kw, levels))
            )
        if MODEL_INTRADAY in methods:
            mean, quant = intraday_replay(values, wf)
            scores.append(_score(MODEL_INTRADAY, INTRADAY, mean, scored, scale, (quant, levels)))
    for name, lags in REFERENCES.items():
        if name in methods:
            scores.append(_score(name, DAY_AHEAD, _lagged_mean(values, lags), scored, scale))
            if progress is not None:
                progress(name, 1, 1)
    rows = list(range(first, len(days)))
    for rule in SETTLEMENT_RULES:
        if rule in methods:
            base = _settlement(rule, days, values, rows, holidays, progress)
            scores.append(_score(rule, SETTLEMENT, base, scored, scale))
    return BacktestResult(
        profiles=history.asset_ids,
        first_scored=days[first],
        last_scored=days[-1],
        scores=tuple(scores),
    )


class TextProgress:
    """A plain-text progress bar on a stream (stderr): one line per stage, redrawn in place."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.stage = ""
        self.started = time.perf_counter()
        self.last_draw = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage != self.stage:
            self.stage, self.started = stage, now
        # Redraw at most 10 times a second; to a file or pipe, write only finished stages.
        if done < total and (now - self.last_draw < 0.1 or not self.stream.isatty()):
            return
        self.last_draw = now
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        start = "\r" if self.stream.isatty() else ""
        self.stream.write(
            f"{start}{stage[:32]:<32} [{bar}] {done}/{total} {now - self.started:5.1f} s{end}"
        )
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpp backtest",
        description="Replay measured load profiles and score the forecasts and baselines.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"profiles CSV (default: the vendored SimBench extract {VENDORED_COMMERCIAL.name})",
    )
    parser.add_argument(
        "--simbench",
        action="store_true",
        help="read LoadProfile.csv from an installed simbench wheel instead",
    )
    parser.add_argument("--first-day", type=int, default=36, help="first scored day (1-based)")
    parser.add_argument(
        "--known-intervals",
        type=int,
        default=LoadModelConfig().known_intervals,
        help="intervals of D-1 measured at the day-ahead issue time (40 = 10:00)",
    )
    parser.add_argument(
        "--no-holidays", action="store_true", help="ignore the data's public holidays"
    )
    parser.add_argument(
        "--method",
        action="append",
        choices=ALL_METHODS,
        help="run only this method (repeatable; default all)",
    )
    parser.add_argument("--per-profile", action="store_true", help="also print NRMSE per profile")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`vpp backtest`: print the score table of every method; 0 on success, 2 on bad input."""
    args = _parser().parse_args(argv)
    path: Path | None = args.data
    if args.simbench:
        path = simbench_loadprofile_path()
        if path is None:
            print("simbench is not installed (pip install simbench)", file=sys.stderr)
            return 2
    try:
        frame = read_commercial_profiles(path)
        config = LoadModelConfig(known_intervals=args.known_intervals)
        result = run_backtest(
            frame,
            holidays=frozenset() if args.no_holidays else SIMBENCH_2016_HOLIDAYS,
            config=config,
            first_scored_day=args.first_day,
            methods=tuple(args.method or ALL_METHODS),
            progress=None if args.quiet else TextProgress(),
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"backtest failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(result.profiles)} profiles, scored {result.first_scored} .. {result.last_scored}"
        f" (D-1 known until interval {config.known_intervals})"
    )
    print(result.table())
    if args.per_profile:
        print()
        print(result.profile_table())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
