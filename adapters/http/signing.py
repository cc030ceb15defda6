"""HMAC-SHA256 request signing, shared by the webhook sender and the receiver helper.

The signed message is ``f"{timestamp}.".encode() + body``: the decimal Unix timestamp
in seconds (the ``X-VPP-Timestamp`` header), a dot, and the exact request body bytes.
The signature travels as ``X-VPP-Signature: v1=<lower-case hex HMAC-SHA256>``; a
receiver accepts the request if any comma-separated ``v1=`` value matches, which lets a
sender present two signatures while a secret is rotated. ``X-VPP-Key-Id`` names the
secret. This module uses the standard library only, so enterprises can vendor it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TIMESTAMP_HEADER = "X-VPP-Timestamp"
SIGNATURE_HEADER = "X-VPP-Signature"
KEY_ID_HEADER = "X-VPP-Key-Id"
SIGNATURE_VERSION = "v1"

MIN_SECRET_BYTES = 32
"""Shortest secret accepted: the SHA-256 output length, as RFC 2104 recommends."""

SECRET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # noqa: S105  (a pattern, not a secret)
"""What a secret id may look like: safe as a header value and as a file name."""

_SECRET_ID = re.compile(SECRET_ID_PATTERN)
_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


def is_secret_id(value: str) -> bool:
    return _SECRET_ID.fullmatch(value) is not None


def secret_bytes(secret: str | bytes) -> bytes:
    """The secret as the HMAC key (UTF-8 if text); refuses one shorter than 32 bytes.

    The error message never contains the secret.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret must be at least {MIN_SECRET_BYTES} bytes long")
    return key


def generate_secret() -> str:
    """A new random secret (256 bits, URL-safe text) to share with an enterprise."""
    return secrets.token_urlsafe(32)


def signed_message(timestamp: int, body: bytes) -> bytes:
    return str(timestamp).encode("ascii") + b"." + body


def compute_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``timestamp + "." + body`` (timestamp in Unix seconds)."""
    return hmac.new(secret, signed_message(timestamp, body), hashlib.sha256).hexdigest()


def signature_headers(key_id: str, secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers that authenticate one request body."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={compute_signature(secret, timestamp, body)}",
        KEY_ID_HEADER: key_id,
    }


def parse_signature_header(value: str) -> list[str]:
    """The well-formed ``v1`` signatures of an ``X-VPP-Signature`` value (others ignored)."""
    found = []
    for part in value.split(","):
        version, _, signature = part.strip().partition("=")
        if version == SIGNATURE_VERSION and _HEX_SIGNATURE.fullmatch(signature):
            found.append(signature)
    return found
