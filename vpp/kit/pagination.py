"""Opaque cursors for list endpoints (keyset pagination: stable under inserts)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from vpp.kit.errors import field_error

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page(BaseModel, Generic[T]):
    """One page of a list and the cursor of the next page (null at the end)."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for more.")


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise field_error("cursor", "cursor_format", "not a cursor this API issued") from None


def after_id(cursor: str | None) -> uuid.UUID | None:
    """The id a cursor of an id-ordered list points after (None: from the start)."""
    if cursor is None:
        return None
    try:
        return uuid.UUID(decode_cursor(cursor))
    except ValueError:
        raise field_error("cursor", "cursor_format", "not a cursor this API issued") from None


def next_id_cursor(ids: list[uuid.UUID], limit: int) -> str | None:
    """The cursor after a full page of an id-ordered list; None after the last page."""
    return encode_cursor(str(ids[-1])) if len(ids) == limit else None
