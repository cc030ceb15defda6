"""HTTP webhook adapter: setpoints POSTed, HMAC-signed and batched, to enterprises' endpoints.

Request: ``POST <binding url>`` with ``Content-Type: application/json`` and a body
holding every command for that endpoint (and secret) in one batch::

    {"commands": [{"command_id": "<uuid>", "asset_id": "<uuid>",
                   "interval_start": "<RFC 3339, UTC>", "power_kw": <float, kW>,
                   "expires_at": "<RFC 3339, UTC>", "attempt": <int >= 1>}, ...]}

``power_kw`` follows the net-load sign (+ draw from the grid, - inject); the device
holds it from ``interval_start`` until ``expires_at``, then falls back to its own
default. Headers: ``X-VPP-Timestamp`` (Unix seconds), ``X-VPP-Key-Id`` (the binding's
``secret_id``) and ``X-VPP-Signature: v1=<hex HMAC-SHA256 of timestamp + "." + body>``.

Synchronous answer (2xx but 202)::

    {"acks": [{"command_id": "<uuid>", "accepted": <bool>, "detail": "<optional>"}]}

202 means "acks follow through the API". Commands are redelivered (with a higher
``attempt``) until acknowledged or expired: receivers dedupe by ``command_id``.
``adapters.http.receiver`` is the receiver helper that does all of this for an
enterprise. The full rules are in ``adapters/http/README.md``.
"""

from adapters.http.adapter import (
    BatchAnswer,
    HttpAdapterConfig,
    HttpBindingSettings,
    HttpWebhookAdapter,
    RequestObserver,
    RequestRecord,
)
from adapters.http.errors import MissingSecretError, WebhookStatusError, WebhookUrlError
from adapters.http.keys import DirectorySecretStore, MappingSecretStore, SecretStore
from adapters.http.receiver import (
    CommandRefused,
    ReceivedCommand,
    SignatureError,
    WebhookReceiver,
    create_receiver_app,
    receiver_endpoint,
    verify_request,
)
from adapters.http.signing import compute_signature, generate_secret, signature_headers
from adapters.http.urls import GuardedResolver, UrlPolicy

__all__ = [
    "BatchAnswer",
    "CommandRefused",
    "DirectorySecretStore",
    "GuardedResolver",
    "HttpAdapterConfig",
    "HttpBindingSettings",
    "HttpWebhookAdapter",
    "MappingSecretStore",
    "MissingSecretError",
    "ReceivedCommand",
    "RequestObserver",
    "RequestRecord",
    "SecretStore",
    "SignatureError",
    "UrlPolicy",
    "WebhookReceiver",
    "WebhookStatusError",
    "WebhookUrlError",
    "compute_signature",
    "create_receiver_app",
    "generate_secret",
    "receiver_endpoint",
    "signature_headers",
    "verify_request",
]
