"""The exception tree every market client raises (STYLE.md: library-shaped clients)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vpp.domain.market import Receipt, RuleViolation


class MarketError(Exception):
    """Base of every error a market client raises."""


class MarketConnectionError(MarketError):
    """The exchange cannot be reached, the connection broke, or it stayed unavailable
    (502/503/504) through every retry."""


class MarketTimeoutError(MarketError):
    """The exchange did not answer within the client's timeout, through every retry."""


class MarketRejectedError(MarketError):
    """The exchange answered and refused the request.

    Raised for refusals that carry no receipt: bad credentials (401), a participant
    acting for another (403), an unknown product (404), a clearing asked before gate
    closure (409), a malformed request (400). A bid that breaks a market rule is *not*
    raised: ``MarketClient.submit`` returns its ``Receipt`` with ``accepted=False``;
    callers who prefer an exception use ``MarketRejectedError.from_receipt``.

    ``status_code`` is the HTTP status (None in process), ``problem`` the RFC 9457
    document as received, ``violations`` the rules named in it, ``receipt`` the refused
    receipt when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        problem: Mapping[str, Any] | None = None,
        violations: Sequence[RuleViolation] = (),
        receipt: Receipt | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.problem: dict[str, Any] = dict(problem or {})
        self.violations = tuple(violations)
        self.receipt = receipt

    @classmethod
    def from_receipt(cls, receipt: Receipt) -> MarketRejectedError:
        """The error for a refused receipt (its violations, one per line)."""
        lines = "; ".join(f"{v.field}: {v.message} (rule: {v.rule})" for v in receipt.violations)
        return cls(
            f"bid for {receipt.product} on {receipt.day.isoformat()} refused: {lines}",
            status_code=422,
            violations=receipt.violations,
            receipt=receipt,
        )


class MarketProtocolError(MarketError):
    """An answer from the exchange is malformed or breaks the documented wire format."""


class MarketServerError(MarketError):
    """The exchange failed on its side (a 5xx that is not worth retrying, e.g. 500)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
