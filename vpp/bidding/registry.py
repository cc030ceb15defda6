"""Market rule packs (``vpp.markets``) and market clients (``vpp.market_clients``) by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from vpp.kit.errors import Problem
from vpp.ports import MARKET_ENTRY_POINTS, Clock, MarketClient, MarketPack

MARKET_CLIENT_ENTRY_POINTS = "vpp.market_clients"
ClientFactory = Callable[[Mapping[str, Any], Clock, str], MarketClient]


def load_packs(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, MarketPack]:
    """Every installed pack, keyed by product, with its rule overrides applied.

    Raises ValueError for an override naming no installed product (a typo in
    ``VPP_MARKET_RULES`` must stop the service, not be ignored), and pydantic's
    ValidationError for an override that breaks the pack's rules model.
    """
    overrides = dict(overrides or {})
    packs: dict[str, MarketPack] = {}
    for ep in entry_points(group=MARKET_ENTRY_POINTS):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, MarketPack)):
            raise TypeError(f"entry point {ep.name!r} is not a MarketPack")
        packs[cls.product] = cls(overrides.pop(cls.product, None))
    if overrides:
        raise ValueError(f"rule overrides for unknown products: {', '.join(sorted(overrides))}")
    return packs


def market_client(
    name: str, config: Mapping[str, Any], clock: Clock, participant: str
) -> MarketClient:
    """Build the configured market client (``simulated`` or ``http``, or a third party's)."""
    found = entry_points(group=MARKET_CLIENT_ENTRY_POINTS, name=name)
    if not found:
        installed = sorted(ep.name for ep in entry_points(group=MARKET_CLIENT_ENTRY_POINTS))
        raise ValueError(f"unknown market client {name!r}; installed: {', '.join(installed)}")
    factory: ClientFactory = next(iter(found)).load()
    return factory(config, clock, participant)


def pack_of(packs: Mapping[str, MarketPack], product: str) -> MarketPack:
    """The pack of ``product``; 422 naming the known products if there is none."""
    try:
        return packs[product]
    except KeyError:
        known = ", ".join(sorted(packs))
        raise Problem(
            422,
            f"product: unknown product {product!r}; known: {known}",
            slug="validation",
            errors=[
                {"field": "product", "rule": "product_known", "message": f"unknown {product!r}"}
            ],
        ) from None
