"""Routes of the grid company's interface: signed instructions, schedules, signing keys."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vpp.config import Settings
from vpp.domain.market import Instruction
from vpp.domain.units import Direction
from vpp.grid import repository, service, signing
from vpp.grid.schemas import (
    GridSchedules,
    InstructionIn,
    InstructionOut,
    SigningKeyCreate,
    SigningKeyOut,
)
from vpp.kit.auth import Principal, require
from vpp.kit.db import writing
from vpp.kit.errors import field_error
from vpp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, after_id, next_id_cursor
from vpp.kit.responses import json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["grid"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
grid_only = require("grid")
grid_reader = require("grid", "operator")
admin_only = require("admin")
SOURCE = "api"
MAX_BODY_BYTES = 64 * 1024
REPLAYED_HEADER = "Idempotent-Replayed"


def _answer(row: object, replayed: bool) -> JSONResponse:
    body = InstructionOut.model_validate(row).model_dump(mode="json")
    return JSONResponse(body, headers={REPLAYED_HEADER: "true"} if replayed else None)


@router.post(
    "/grid/instructions",
    response_model=InstructionOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": InstructionIn.model_json_schema()}},
        },
        "parameters": [
            {
                "name": signing.SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "Base64 Ed25519 signature of the exact body.",
                "schema": {"type": "string"},
            },
            {
                "name": signing.KEY_ID_HEADER,
                "in": "header",
                "required": True,
                "description": "Id of the registered public key that verifies it.",
                "schema": {"type": "string"},
            },
        ],
    },
)
async def post_instruction(
    request: Request,
    principal: Principal = Depends(grid_only),
    session: Session = Depends(get_session, scope="function"),
) -> JSONResponse:
    """Receive an intraday instruction (grid role), signed end to end, answered at once:
    accepted, partial (with the feasible kW) or rejected (with the reason). A repeated
    ``instruction_id`` with the same body gets the first answer and changes nothing; other
    content under a used id is refused (409). Refused with a problem, nothing stored:
    unsigned or wrongly signed bodies (401), stale or future issue times, unknown
    products, past, repeated or missing intervals, negative, non-finite or absurd targets."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise field_error("body", "max_size", f"at most {MAX_BODY_BYTES} bytes", status=413)
    settings: Settings = request.app.state.settings
    state = request.app.state
    now = state.clock.now()

    def receive() -> JSONResponse:
        writing(session)
        service.verify_signature(
            session,
            principal,
            body,
            request.headers.get(signing.KEY_ID_HEADER),
            request.headers.get(signing.SIGNATURE_HEADER),
        )
        data = InstructionIn.model_validate_json(body)
        pack = state.packs.get(data.product)
        instruction = Instruction(
            instruction_id=data.instruction_id,
            product=data.product,
            day=data.day,
            # An unknown product is refused by receive_instruction before its side matters.
            direction=pack.limits().side if pack else Direction.UP,
            intervals=tuple(data.intervals),
            target_kw=tuple(data.target_kw),
            issued_at=data.issued_at,
        )
        replayed = repository.instruction(session, data.instruction_id) is not None

        def apply() -> None:
            service.receive_instruction(
                session,
                state.packs,
                instruction,
                source=SOURCE,
                now=now,
                account_id=principal.account_id,
                max_age=timedelta(seconds=settings.grid_instruction_max_age_s),
                max_skew=timedelta(seconds=settings.grid_instruction_max_skew_s),
            )

        try:
            apply()
            row = service.get_instruction(session, principal, data.instruction_id)
            response = _answer(row, replayed)
            session.commit()
        except IntegrityError:
            # The same id arrived concurrently and the other request stored it first:
            # answer as its replay (or refuse it as a conflict).
            session.rollback()
            apply()
            row = service.get_instruction(session, principal, data.instruction_id)
            response = _answer(row, replayed=True)
        return response

    return await run_in_threadpool(receive)


@router.get("/grid/instructions", response_model=Page[InstructionOut])
def list_instructions(
    cursor: str | None = None,
    limit: int = Limit,
    day: date | None = None,
    principal: Principal = Depends(grid_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Instructions in order of receipt (a grid account: its own; operators: all)."""
    scope = principal.account_id if principal.role == "grid" else None
    rows = repository.list_instructions(session, scope, after_id(cursor), limit, day=day)
    return json_response(
        Page[InstructionOut](
            items=[InstructionOut.model_validate(r) for r in rows],
            next_cursor=next_id_cursor([r.id for r in rows], limit),
        )
    )


@router.get("/grid/instructions/{instruction_id}", response_model=InstructionOut)
def read_instruction(
    instruction_id: str,
    principal: Principal = Depends(grid_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """One instruction and the answer it got (a grid account: only its own)."""
    row = service.get_instruction(session, principal, instruction_id)
    return json_response(InstructionOut.model_validate(row))


@router.get("/grid/schedules", response_model=GridSchedules)
def read_schedules(
    day: date,
    principal: Principal = Depends(grid_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The pool's published schedule of ``day``: the day-ahead version and the current one
    (intraday instructions included), 96 values per list (kW, net-load sign)."""
    day_ahead, current = service.schedules(session, day)
    return json_response(
        GridSchedules(
            day=day,
            day_ahead=service.schedule_out(day_ahead) if day_ahead else None,
            current=service.schedule_out(current) if current else None,
        )
    )


@router.post("/grid/keys", status_code=201, response_model=SigningKeyOut)
def create_signing_key(
    body: SigningKeyCreate,
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Register a grid account's Ed25519 public key for signed instructions (admin)."""
    row = service.register_signing_key(writing(session), principal, body)
    out = SigningKeyOut.model_validate(row)
    session.commit()
    return json_response(out, status=201)


@router.get("/grid/keys", response_model=Page[SigningKeyOut])
def list_signing_keys(
    cursor: str | None = None,
    limit: int = Limit,
    account_id: uuid.UUID | None = Query(None, alias="account"),
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    rows = repository.list_signing_keys(session, account_id, after_id(cursor), limit)
    return json_response(
        Page[SigningKeyOut](
            items=[SigningKeyOut.model_validate(r) for r in rows],
            next_cursor=next_id_cursor([r.id for r in rows], limit),
        )
    )


@router.delete("/grid/keys/{key_id}", response_model=SigningKeyOut)
def revoke_signing_key(
    key_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Revoke a signing key: instructions signed with it are refused from now on."""
    row = service.revoke_signing_key(
        writing(session), principal, key_id, request.app.state.clock.now()
    )
    out = SigningKeyOut.model_validate(row)
    session.commit()
    return json_response(out)
