"""The request's database session: one unit of work, committed by the endpoint."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session; anything the endpoint did not commit is rolled back."""
    session: Session = request.app.state.sessionmaker()
    request.state.db_session = session
    try:
        yield session
    finally:
        session.close()
