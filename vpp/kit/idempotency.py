"""``Idempotency-Key`` for writes: a replay gets the first answer, never a second write.

A key is claimed (committed) before the write runs, so a concurrent duplicate sees
the claim and gets 409; the response is stored in the same transaction as the write,
so a stored answer always matches what was written. A failed write releases its claim.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from vpp.kit.auth import Principal, authenticated
from vpp.kit.db import writing
from vpp.kit.errors import Problem
from vpp.models import IdempotencyRecord
from vpp.models.base import utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class Replay(Exception):
    """Raised to short-circuit a request whose answer is already stored."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__("idempotent replay")
        self.status = status
        self.body = body


def replay_response(exc: Replay) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status, headers={"Idempotent-Replayed": "true"})


@dataclass
class Idempotency:
    """The claim of this request, if it carried a key."""

    record_id: uuid.UUID | None = None

    def record(self, session: Session, status: int, body: Any) -> None:
        """Store the answer in the caller's transaction (no-op without a key)."""
        if self.record_id is None:
            return
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == self.record_id)
            .values(response_status=status, response_body=body, completed_at=utcnow())
        )


def _claim(
    factory: sessionmaker[Session],
    principal: Principal,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    stale_after: timedelta,
) -> uuid.UUID:
    with factory() as session:
        writing(session)
        record = IdempotencyRecord(
            account_id=principal.account_id,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
        )
        session.add(record)
        try:
            session.commit()
            return record.id
        except IntegrityError:
            session.rollback()
        existing = session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.account_id == principal.account_id,
                IdempotencyRecord.key == key,
            )
        ).scalar_one()
        if existing.request_hash != request_hash:
            raise Problem(
                422,
                f"{HEADER} was already used with a different request; use a new key",
                slug="idempotency-key-reused",
                errors=[{"field": HEADER, "rule": "same_request", "message": "body differs"}],
            )
        if existing.response_status is not None:
            raise Replay(existing.response_status, existing.response_body)
        if utcnow() - existing.created_at < stale_after:
            raise Problem(
                409,
                "a request with this Idempotency-Key is still in progress",
                slug="idempotency-in-progress",
                headers={"Retry-After": "1"},
            )
        # The first request died mid-way: take its claim over, unless someone else did.
        taken = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == existing.id,
                IdempotencyRecord.created_at == existing.created_at,
            )
            .values(created_at=utcnow())
        )
        session.commit()
        if getattr(taken, "rowcount", 0) != 1:
            raise Problem(409, "a request with this Idempotency-Key is in progress")
        return existing.id


def _release(factory: sessionmaker[Session], record_id: uuid.UUID) -> None:
    with factory() as session:
        writing(session)
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == record_id, IdempotencyRecord.response_status.is_(None)
            )
        )
        session.commit()


async def idempotency(
    request: Request, principal: Principal = Depends(authenticated)
) -> AsyncIterator[Idempotency]:
    """Claim the request's ``Idempotency-Key`` (if any) for the length of the write."""
    key = request.headers.get(HEADER)
    if key is None:
        yield Idempotency()
        return
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Problem(
            400,
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable characters",
            errors=[{"field": HEADER, "rule": "format", "message": "bad key"}],
        )
    body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    state = request.app.state
    record_id = await run_in_threadpool(
        _claim,
        state.sessionmaker,
        principal,
        key,
        request.method,
        request.url.path,
        digest.hexdigest(),
        timedelta(seconds=state.settings.idempotency_stale_after_s),
    )
    try:
        yield Idempotency(record_id)
    except BaseException:
        # Undo the request's own work first: it may hold locks (and, where both share a
        # connection, an enclosing savepoint) that would swallow the release.
        session = getattr(request.state, "db_session", None)
        if session is not None:
            await run_in_threadpool(session.rollback)
        await run_in_threadpool(_release, state.sessionmaker, record_id)
        raise
