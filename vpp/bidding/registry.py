"""Market rule packs (``vpp.markets``) and market clients (``vpp.market_clients``) by name.

The market simulator loads its packs here too: one loader for every consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from vpp.kit.errors import Problem
from vpp.ports import MARKET_ENTRY_POINTS, Clock, MarketClient, MarketPack

MARKET_CLIENT_ENTRY_POINTS = "vpp.market_clients"
ClientFactory = Callable[[Mapping[str, Any], Clock, str], MarketClient]


class MarketCatalogError(ValueError):
    """A pack cannot be loaded: a bad entry point, an unknown product or invalid rules."""


def pack_classes() -> dict[str, type[MarketPack]]:
    """Every installed pack class by product name (the entry point's name)."""
    found: dict[str, type[MarketPack]] = {}
    for entry in entry_points(group=MARKET_ENTRY_POINTS):
        loaded = entry.load()
        if not (isinstance(loaded, type) and issubclass(loaded, MarketPack)):
            raise MarketCatalogError(
                f"entry point {entry.name} = {entry.value} is not a MarketPack"
            )
        if loaded.product != entry.name:
            raise MarketCatalogError(
                f"entry point {entry.name} loads a pack for product {loaded.product!r}"
            )
        previous = found.get(entry.name)
        if previous is not None and previous is not loaded:
            raise MarketCatalogError(f"product {entry.name} is registered twice")
        found[entry.name] = loaded
    return dict(sorted(found.items()))


def load_packs(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, MarketPack]:
    """One pack per installed product, with ``overrides[product]`` applied to its rules.

    Each override is validated by the pack's ``rules_model`` (unknown keys, wrong types and
    inconsistent numbers are refused). An override for a product that is not installed, or
    one that fails validation, raises MarketCatalogError naming the product.
    """
    classes = pack_classes()
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(classes))
    if unknown:
        raise MarketCatalogError(
            f"rule overrides for unknown product(s) {', '.join(unknown)}; "
            f"installed: {', '.join(classes)}"
        )
    packs: dict[str, MarketPack] = {}
    for product, cls in classes.items():
        try:
            packs[product] = cls(overrides.get(product))
        except ValidationError as exc:
            raise MarketCatalogError(f"invalid rules for {product}: {exc}") from exc
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
