"""Telemetry routes: batch ingest and an asset's history."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vpp.kit.auth import Principal, require
from vpp.kit.errors import field_error
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.pagination import Page, decode_cursor, encode_cursor
from vpp.kit.responses import commit_json, json_response
from vpp.kit.session import get_session
from vpp.telemetry import service
from vpp.telemetry.schemas import IngestResult, ReadingOut, TelemetryBatch, inline_schema

router = APIRouter(tags=["telemetry"])
enterprise = require("enterprise")
reader = require("enterprise", "operator")


def _ingest(
    request: Request, body: bytes, principal: Principal, session: Session, idem: Idempotency
) -> JSONResponse:
    state = request.app.state
    readings = service.parse_batch(body, state.settings.telemetry_max_batch)
    result = service.ingest(session, principal, readings)
    response = commit_json(session, idem, 200, result)
    state.metrics.readings_ingested.inc(result.accepted)
    state.metrics.readings_duplicate.inc(result.duplicates)
    return response


@router.post(
    "/telemetry",
    response_model=IngestResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(TelemetryBatch)}},
        }
    },
    summary="Push a batch of readings (many assets per request, all or nothing)",
)
async def ingest(
    request: Request,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Store readings of the caller's assets. The batch is rejected whole if any reading
    is bad (the error names its index); a reading already stored for the same asset and
    timestamp is skipped and counted as a duplicate. At most ``VPP_TELEMETRY_MAX_BATCH``
    (default 10,000) readings per request."""
    body = await request.body()
    return await run_in_threadpool(_ingest, request, body, principal, session, idem)


@router.get("/assets/{asset_id}/telemetry", response_model=Page[ReadingOut])
def asset_history(
    request: Request,
    asset_id: uuid.UUID,
    start: AwareDatetime = Query(description="Inclusive start, with a UTC offset."),
    end: AwareDatetime = Query(description="Exclusive end, with a UTC offset."),
    limit: int = Query(1000, ge=1),
    cursor: str | None = None,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    max_limit = request.app.state.settings.telemetry_query_max
    if limit > max_limit:
        raise field_error("limit", "max", f"at most {max_limit}")
    if end <= start:
        raise field_error("end", "after_start", "must be later than start")
    if cursor is not None:
        try:
            after = datetime.fromisoformat(decode_cursor(cursor))
        except ValueError:
            raise field_error("cursor", "cursor_format", "not a cursor this API issued") from None
        start = max(start, after + timedelta(microseconds=1))
    rows = service.history(session, principal, asset_id, start, end, limit)
    next_cursor = encode_cursor(rows[-1].ts.isoformat()) if len(rows) == limit else None
    return json_response(
        Page[ReadingOut](
            items=[ReadingOut.model_validate(r) for r in rows], next_cursor=next_cursor
        )
    )
