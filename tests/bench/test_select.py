"""`python -m bench --only NAME`: an exact key or metric name picks that benchmark alone."""

from __future__ import annotations

from bench.core import Benchmark, Context, Result, select


def _none(ctx: Context) -> list[Result]:
    return []


BID = Benchmark("bid", ("bid_1000_s", "bid_10000_s"), _none)
BID_VALUE = Benchmark("bid_value", ("bid_profit_vs_oracle",), _none)
CYCLE = Benchmark("cycle", ("cycle_1000_s", "cycle_1000_bid_s"), _none, tags=("scale",))
ALL = [BID, BID_VALUE, CYCLE]


def test_an_exact_key_or_metric_name_selects_only_its_benchmark() -> None:
    assert select(ALL, ["bid"]) == [BID]
    assert select(ALL, ["cycle_1000_bid_s"]) == [CYCLE]
    assert select(ALL, ["bid_profit_vs_oracle"]) == [BID_VALUE]


def test_otherwise_every_benchmark_containing_the_pattern_in_order() -> None:
    assert select(ALL, ["bid_"]) == ALL
    assert select(ALL, ["scale"]) == [CYCLE]
    assert select(ALL, ["cycle", "bid"]) == [BID, CYCLE]
    assert select(ALL, ["nothing"]) == []
