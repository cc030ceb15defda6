"""Finishing a write: store the idempotent answer, commit, answer JSON."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from vpp.kit.idempotency import Idempotency


def commit_json(
    session: Session, idem: Idempotency, status: int, payload: BaseModel
) -> JSONResponse:
    """Commit the unit of work with its idempotency record, then answer.

    The answer is serialised before the commit so that the stored replay and the
    first answer are byte-for-byte the same document.
    """
    body = payload.model_dump(mode="json")
    idem.record(session, status, body)
    session.commit()
    return JSONResponse(body, status_code=status)
