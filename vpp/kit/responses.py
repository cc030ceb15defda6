"""Finishing a write: store the idempotent answer, commit, answer JSON."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response
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


def json_response(payload: BaseModel, status: int = 200) -> Response:
    """Serialise in the endpoint's own thread, with pydantic's fast encoder.

    Returning a Response skips FastAPI's second validation of the return value (a
    further worker-thread hop per request on sync endpoints); the route's
    ``response_model`` still documents the shape.
    """
    return Response(payload.model_dump_json(), status_code=status, media_type="application/json")


def csv_download(text: str, filename: str) -> Response:
    """A CSV document offered as a file download named ``filename``."""
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
