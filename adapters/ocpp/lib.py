"""Typed doorway to the ``ocpp`` library, which ships no type hints: the names used here.

Only this module imports ``ocpp`` directly, so the untyped surface (and its ``type: ignore``
comments) stays in one place. Payload classes (``call``, ``call_result``, ``datatypes``,
``enums``) are re-exported as the library's modules and are untyped (``Any``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ocpp.charge_point import camel_to_snake_case as _camel_to_snake_case  # type: ignore[import-untyped, unused-ignore]
from ocpp.exceptions import OCPPError as _OCPPError  # type: ignore[import-untyped, unused-ignore]
from ocpp.messages import unpack as _unpack  # type: ignore[import-untyped, unused-ignore]
from ocpp.routing import on as _on  # type: ignore[import-untyped, unused-ignore]
from ocpp.v16 import ChargePoint as _ChargePoint16  # type: ignore[import-untyped, unused-ignore]
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v16 import datatypes as datatypes16
from ocpp.v16 import enums as enums16

SUBPROTOCOL_16 = "ocpp1.6"

_Handler = TypeVar("_Handler", bound=Callable[..., Any])

OCPPError: type[Exception] = _OCPPError
"""Base of the library's OCPP-J error codes (``.code``: FormatViolation, NotImplemented, ...)."""


class ChargePoint16(_ChargePoint16):  # type: ignore[misc]  # the library's class is untyped
    """The library's OCPP 1.6 ``ChargePoint`` (one websocket peer), under a subclassable name.

    ``call(payload, suppress=True, unique_id=None, skip_schema_validation=False)`` sends a
    request and returns the typed result; ``start()`` reads and routes messages until the
    connection closes.
    """


def on(action: str, *, skip_schema_validation: bool = False) -> Callable[[_Handler], _Handler]:
    """The library's ``@on(action)`` handler decorator, typed."""
    decorator: Callable[[_Handler], _Handler] = _on(
        action, skip_schema_validation=skip_schema_validation
    )
    return decorator


def unpack(raw: str | bytes) -> Any:
    """Parse an OCPP-J frame into a Call / CallResult / CallError; raises ``OCPPError``."""
    return _unpack(raw)


def snake_case_payload(payload: Any) -> Any:
    """A wire payload (camelCase keys) as the library hands it to handlers (snake_case)."""
    return _camel_to_snake_case(payload)


__all__ = [
    "SUBPROTOCOL_16",
    "ChargePoint16",
    "OCPPError",
    "call16",
    "call_result16",
    "datatypes16",
    "enums16",
    "on",
    "snake_case_payload",
    "unpack",
]
