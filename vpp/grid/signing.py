"""Signatures of the grid interface: Ed25519 on instructions, HMAC-SHA256 on the webhook.

*Instructions* (grid company -> VPP) are signed end to end, beyond the bearer key, so that
a store-and-forward security gateway between the two cannot alter them: the grid company
signs the exact request body with its Ed25519 private key (RFC 8032) and sends
``Signature: <base64 signature>`` and ``Signature-Key-Id: <key id>``; the VPP verifies
with the public key an administrator registered for that grid account.

*Schedule webhook* (VPP -> grid company) follows Standard Webhooks: ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``; the secret is shared as ``whsec_<base64>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_HEADER = "Signature"
KEY_ID_HEADER = "Signature-Key-Id"
ED25519_KEY_BYTES = 32

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105  (a public marker, not a secret)
MIN_WEBHOOK_SECRET_BYTES = 24
"""Standard Webhooks asks for secrets of 24 to 64 random bytes."""


class SignatureError(ValueError):
    """A key or signature that cannot be read; the message never contains key material."""


def parse_public_key(text: str) -> bytes:
    """The raw 32-byte Ed25519 public key of ``text``: a PEM SubjectPublicKeyInfo block
    or the standard base64 of the raw key."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SignatureError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError("the PEM key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("not base64 nor PEM") from None
    if len(raw) != ED25519_KEY_BYTES:
        raise SignatureError(f"an Ed25519 public key has {ED25519_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def encode_public_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_fingerprint(raw: bytes) -> str:
    """A default key id: the first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_body(private_key: Ed25519PrivateKey, body: bytes) -> str:
    """The ``Signature`` header value for ``body``: base64 of its Ed25519 signature.

    What the grid company runs; here for the tests, the CLI and as a reference."""
    return base64.b64encode(private_key.sign(body)).decode("ascii")


def verify_body(public_key_b64: str, body: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is a valid Ed25519 signature of exactly ``body``."""
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(signature, body)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64, or plain text)."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("a whsec_ secret must be base64 after its prefix") from None
    else:
        key = secret.encode("utf-8")
    if len(key) < MIN_WEBHOOK_SECRET_BYTES:
        raise SignatureError(
            f"a webhook secret must hold at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
        )
    return key


def webhook_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` (Standard Webhooks)."""
    message = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers that authenticate one webhook delivery."""
    return {
        WEBHOOK_ID_HEADER: message_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: webhook_signature(key, message_id, timestamp, body),
    }


def verify_webhook(
    key: bytes, headers: Mapping[str, str], body: bytes, now_s: int, tolerance_s: int = 300
) -> bool:
    """A receiver's check: a ``v1`` signature matches and the timestamp is within
    ``tolerance_s`` seconds of ``now_s`` (what the grid company runs on its side)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get(WEBHOOK_ID_HEADER, "")
    try:
        timestamp = int(lowered.get(WEBHOOK_TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if abs(now_s - timestamp) > tolerance_s:
        return False
    expected = webhook_signature(key, message_id, timestamp, body)
    candidates = lowered.get(WEBHOOK_SIGNATURE_HEADER, "").split()
    return any(hmac.compare_digest(candidate, expected) for candidate in candidates)
