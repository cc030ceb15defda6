"""Bearer-key authentication, role checks and the per-key rate limit."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from vpp.kit.errors import Problem
from vpp.models import ApiKey
from vpp.models.base import utcnow

log = logging.getLogger(__name__)

TOKEN_PREFIX = "vpp_"  # noqa: S105  (a public marker, not a secret)
ROLES = ("enterprise", "operator", "grid", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account behind the key and the key's role."""

    account_id: uuid.UUID
    key_id: uuid.UUID
    role: str
    expires_at: datetime | None

    @property
    def is_enterprise(self) -> bool:
        return self.role == "enterprise"


def generate_token() -> tuple[str, str]:
    """A new random token (256 bits) and the short prefix shown in key listings."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:12]


def hash_token(token: str) -> str:
    """SHA-256 suffices: tokens are 256-bit random, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


class KeyCache:
    """Verified keys by token hash, trusted for ``ttl_s`` seconds.

    Saves a database round trip per request; a revocation through this process drops
    the entry at once, other replicas notice within the TTL. A key in use is verified
    again once its entry is half the TTL old, by one request while the others go on
    with the entry (`cached_principal`): under steady traffic entries never lapse, and
    the requests of the moment of expiry do not all fall back to the database at once.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._refreshing: set[str] = set()

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or self._clock() - entry[1] > self.ttl_s:
            return None
        return entry[0]

    def put(self, token_hash: str, principal: Principal) -> None:
        self._refreshing.discard(token_hash)  # a fresh verification settles any under way
        if self.ttl_s > 0:
            self._entries[token_hash] = (principal, self._clock())

    def invalidate(self, key_id: uuid.UUID) -> None:
        for token_hash, (principal, _) in list(self._entries.items()):
            if principal.key_id == key_id:
                self._entries.pop(token_hash, None)

    def refresh_due(self, token_hash: str) -> bool:
        """True, once, when a live entry is past half its TTL: the caller verifies the
        key again and reports it (`refreshed` or `refresh_failed`) while the entry goes
        on serving."""
        entry = self._entries.get(token_hash)
        if entry is None or token_hash in self._refreshing:
            return False
        if self._clock() - entry[1] <= self.ttl_s / 2:
            return False
        self._refreshing.add(token_hash)
        return True

    def refreshed(self, token_hash: str, principal: Principal | None) -> None:
        """Record the outcome of a verification `refresh_due` asked for (None: the key
        is gone or revoked)."""
        self._refreshing.discard(token_hash)
        if principal is None:
            self._entries.pop(token_hash, None)
        else:
            self.put(token_hash, principal)

    def refresh_failed(self, token_hash: str) -> None:
        """The verification could not be made: the entry serves on until its TTL ends
        and a later request tries again."""
        self._refreshing.discard(token_hash)


class RateLimiter:
    """A token bucket per API key, in this process (each replica limits on its own)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: uuid.UUID) -> float:
        """Take one token; return 0 when allowed, else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def _load_principal(factory: sessionmaker[Session], token_hash: str) -> Principal | None:
    with factory() as session:
        key = session.execute(
            select(ApiKey).where(ApiKey.token_hash == token_hash)
        ).scalar_one_or_none()
        if key is None or key.revoked_at is not None:
            return None
        return Principal(key.account_id, key.id, key.role, key.expires_at)


async def cached_principal(state: Any, token_hash: str) -> Principal | None:
    """The key cache's principal for ``token_hash`` (``state``: the app's state).

    When the entry is due for a new verification this request makes it, while the
    other requests of the moment go on with the entry; a database error keeps the
    entry until its TTL ends.
    """
    cache: KeyCache = state.key_cache
    principal = cache.get(token_hash)
    if principal is None or not cache.refresh_due(token_hash):
        return principal
    verified = False
    try:
        fresh = await run_in_threadpool(_load_principal, state.sessionmaker, token_hash)
        verified = True
    except Exception:
        log.warning("could not verify an API key again; its cache entry serves on", exc_info=True)
        return principal
    finally:  # also when the request is cancelled: a later one verifies then
        if verified:
            cache.refreshed(token_hash, fresh)
        else:
            cache.refresh_failed(token_hash)
    return fresh


async def authenticated(request: Request) -> Principal:
    """Resolve the bearer key: 401 if missing, unknown, revoked or expired; 429 if over rate."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing bearer token (Authorization: Bearer <key>)")
    state = request.app.state
    token_hash = hash_token(token.strip())
    principal = await cached_principal(state, token_hash)
    if principal is None:
        principal = await run_in_threadpool(_load_principal, state.sessionmaker, token_hash)
        if principal is None:
            raise unauthorized("unknown or revoked API key")
        state.key_cache.put(token_hash, principal)
    if principal.expires_at is not None and principal.expires_at <= utcnow():
        raise unauthorized("API key expired")
    wait_s = state.rate_limiter.acquire(principal.key_id)
    if wait_s > 0:
        raise Problem(
            429,
            "rate limit exceeded for this API key",
            slug="rate-limited",
            headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
        )
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only keys of the given roles (403 for the others)."""

    async def _check(principal: Principal = Depends(authenticated)) -> Principal:
        if principal.role not in roles:
            raise Problem(403, f"this route needs a key of role {' or '.join(roles)}")
        return principal

    return _check
