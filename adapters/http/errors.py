"""The webhook adapter's refinements of the shared adapter exception tree."""

from __future__ import annotations

from adapters.errors import AdapterError, AdapterRejectedError

# 408 Request Timeout, 425 Too Early and 429 Too Many Requests say "not now", not "never".
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})


class WebhookUrlError(AdapterError, ValueError):
    """A webhook URL is refused by the URL policy (scheme, user info, non-public address).

    A ``ValueError`` too, so that pydantic reports it as a validation error of the
    binding's ``url`` field at enrollment.
    """


class MissingSecretError(AdapterError):
    """No HMAC secret is stored under a binding's ``secret_id``."""


class WebhookStatusError(AdapterRejectedError):
    """The endpoint answered with a status that carries no acknowledgements.

    ``transient`` is true for 5xx, 408, 425 and 429 (worth retrying), false for
    redirects (never followed) and the other 4xx (retrying cannot help).
    """

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail

    @property
    def transient(self) -> bool:
        return self.status_code >= 500 or self.status_code in TRANSIENT_CLIENT_STATUSES
