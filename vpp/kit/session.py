"""The request's database session: one unit of work, committed by the endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.orm import Session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield a session; anything the endpoint did not commit is rolled back.

    An async generator on purpose: opening and closing need no worker thread, so a
    request never waits for a thread while holding a pooled connection (with a sync
    generator, a burst could leave every thread waiting for a connection held by
    requests waiting for a thread to close it).
    """
    state = request.app.state
    factory = state.sessionmaker if request.method in SAFE_METHODS else state.write_sessionmaker
    session: Session = factory()
    request.state.db_session = session
    try:
        yield session
    finally:
        session.close()
