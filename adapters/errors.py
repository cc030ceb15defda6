"""The exception tree every adapter raises (STYLE.md: library-shaped adapters)."""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every error an adapter raises."""


class AdapterConnectionError(AdapterError):
    """The peer (device, endpoint, broker) cannot be reached, or the connection broke."""


class AdapterTimeoutError(AdapterError):
    """The peer did not answer within the adapter's timeout."""


class AdapterRejectedError(AdapterError):
    """The peer answered and refused (bad credentials, not authorised, invalid command)."""


class AdapterPayloadError(AdapterError):
    """A payload from a peer is malformed or violates the documented schema."""
