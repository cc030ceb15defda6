"""Market clients by configuration: the entry points of group ``vpp.market_clients``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from market.client import HttpMarketClient
from market.simulator.inprocess import InProcessMarketClient
from market.simulator.operator import SimulatedMarket
from vpp.bidding.registry import load_packs
from vpp.domain.market import Clearing
from vpp.ports import Clock, MarketClient


class DrivenMarketClient(InProcessMarketClient):
    """The in-process client of a simulated market that the service itself drives: the
    scheduler's tick calls ``clear_due`` so that gates close on the service clock."""

    async def clear_due(self) -> list[Clearing]:
        return await self.market.clear_due()


def simulated_client(config: Mapping[str, Any], clock: Clock, participant: str) -> MarketClient:
    """A simulated market operator in this process. ``config``: ``seed`` (int, default 0),
    ``competitors`` (int, default 10), ``rules`` (per-product rule overrides),
    ``instruction_probability`` (chance of an intraday instruction per cleared
    peak-shaving product and day, default 0.5)."""
    market = SimulatedMarket(
        load_packs(config.get("rules")),
        clock,
        seed=int(config.get("seed", 0)),
        competitors=int(config.get("competitors", 10)),
        instruction_probability=float(config.get("instruction_probability", 0.5)),
    )
    return DrivenMarketClient(market, participant)


class OwnedHttpMarketClient(HttpMarketClient):
    """An HTTP market client that owns its connection pool (closed with the service)."""

    async def aclose(self) -> None:
        await self.client.aclose()


def http_client(config: Mapping[str, Any], clock: Clock, participant: str) -> MarketClient:
    """An exchange over HTTP. ``config``: ``url`` and ``token`` (required), ``timeout_s``."""
    missing = [key for key in ("url", "token") if not config.get(key)]
    if missing:
        raise ValueError(f"VPP_MARKET_CONFIG needs {' and '.join(missing)} for the http market")
    timeout = float(config.get("timeout_s", 10.0))
    return OwnedHttpMarketClient(
        httpx.AsyncClient(timeout=timeout),
        str(config["url"]),
        str(config["token"]),
        participant=participant,
        timeout_s=timeout,
    )
