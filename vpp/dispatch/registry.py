"""Adapters found through the ``vpp.adapters`` entry-point group, and binding checks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from vpp.kit.errors import Problem, validation_problem
from vpp.ports import ADAPTER_ENTRY_POINTS, AssetAdapter, SystemClock


def available_adapters() -> list[str]:
    """Names of every installed adapter (without importing them)."""
    return sorted(ep.name for ep in entry_points(group=ADAPTER_ENTRY_POINTS))


@cache
def adapter_class(name: str) -> type[AssetAdapter]:
    """Load one adapter by name; KeyError if none is installed under it."""
    found = entry_points(group=ADAPTER_ENTRY_POINTS, name=name)
    if not found:
        raise KeyError(name)
    cls = next(iter(found)).load()
    if not (isinstance(cls, type) and issubclass(cls, AssetAdapter)):
        raise TypeError(f"entry point {name!r} is not an AssetAdapter")
    return cls


def validate_binding(
    name: str, settings: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The binding's settings as the adapter, configured with ``config`` (the service's
    adapter-wide configuration for it), validated them; 422 naming the field if not."""
    try:
        cls = adapter_class(name)
    except KeyError:
        raise Problem(
            422,
            f"adapter.name: unknown adapter {name!r}; installed: {', '.join(available_adapters())}",
            slug="validation",
            errors=[
                {"field": "adapter.name", "rule": "adapter_known", "message": f"unknown {name!r}"}
            ],
        ) from None
    try:
        return cls(SystemClock(), config or {}).validate_binding(settings)
    except ValidationError as exc:
        problem = validation_problem(exc.errors())
        for item in problem.errors:
            item["field"] = "adapter.settings" + (
                "" if item["field"] == "body" else f".{item['field']}"
            )
        problem.detail = f"adapter.settings.{problem.detail}"
        raise problem from None
