"""Routes for settlements, statements (CSV, printable HTML), sealed evidence and agreements."""

from __future__ import annotations

import calendar
import uuid
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vpp.domain.time import FIRST_DAY, LAST_DAY
from vpp.kit.auth import Principal, require
from vpp.kit.errors import Problem, field_error
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.responses import commit_json, csv_download, json_response
from vpp.kit.session import get_session
from vpp.settlement import service
from vpp.settlement.schemas import (
    AgreementIn,
    AgreementList,
    AgreementOut,
    Evidence,
    SettlementList,
    SettlementOut,
    SettleRequest,
)

router = APIRouter(tags=["settlement"])
reader = require("enterprise", "operator", "grid")
operator = require("operator")
agreement_reader = require("enterprise", "operator")
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Level = Literal["enterprise", "pool"]


def _period(day: date | None, month: str | None) -> tuple[date, date]:
    if (day is None) == (month is None):
        raise field_error("day", "one_of", "give exactly one of day=YYYY-MM-DD or month=YYYY-MM")
    if day is not None:
        return day, day
    assert month is not None
    year, mon = (int(x) for x in month.split("-"))
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise field_error(
            "month", "month_range", f"must be between {FIRST_DAY:%Y-%m} and {LAST_DAY:%Y-%m}"
        )
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def _level(principal: Principal, level: Level | None) -> str:
    return level or ("pool" if principal.role == "grid" else "enterprise")


@router.get("/settlements", response_model=SettlementList)
def list_settlements(
    day: date | None = None,
    month: str | None = Query(None, pattern=MONTH, description="YYYY-MM"),
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Settled days (latest version each) with statement lines: an enterprise its own,
    the operator every enterprise's, the grid the pool's totals only."""
    first, last = _period(day, month)
    return json_response(service.list_settlements(session, principal, first, last))


@router.post("/settlements", status_code=201, response_model=SettlementOut)
def settle(
    body: SettleRequest,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Settle a day now: 201 with a new version, or 200 with the stored one when the day's
    inputs have not changed. 422 for a day that has not ended (+ the data delay) or has
    no awards."""
    state = request.app.state
    outcome = service.settle_day(
        session, state.packs, body.day, state.clock.now(), state.settings, principal
    )
    status = 201 if outcome.created else 200
    payload = service.settlement_out(session, outcome.settlement.id, principal)
    content = payload.model_dump(mode="json")
    idem.record(session, status, content)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Problem(409, f"{body.day} is being settled by another request; retry") from None
    return JSONResponse(content, status_code=status)


@router.get("/settlements/{settlement_id}", response_model=SettlementOut)
def read_settlement(
    settlement_id: uuid.UUID,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    return json_response(service.settlement_out(session, settlement_id, principal))


@router.get("/settlements/{settlement_id}/statement.csv", response_class=Response)
def statement_csv(
    settlement_id: uuid.UUID,
    level: Level | None = None,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Every interval line and the totals, money in CNY (enterprise level: per enterprise,
    product and interval; pool level: per product and interval)."""
    text = service.statement_csv(session, settlement_id, principal, _level(principal, level))
    return csv_download(text, f"statement-{settlement_id}.csv")


@router.get("/settlements/{settlement_id}/statement.html", response_class=HTMLResponse)
def statement_html(
    settlement_id: uuid.UUID,
    level: Level | None = None,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> HTMLResponse:
    """The statement as a printable page."""
    return HTMLResponse(
        service.statement_html(session, settlement_id, principal, _level(principal, level))
    )


@router.get("/evidence/{day}", response_model=Evidence)
def read_evidence(
    day: date,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> JSONResponse:
    """The day's sealed ledger excerpt for the caller; check it offline with
    ``vpp verify FILE``."""
    return JSONResponse(service.evidence(session, day, principal))


@router.get("/agreements", response_model=AgreementList)
def list_agreements(
    request: Request,
    principal: Principal = Depends(agreement_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Agency agreements: every enterprise's (operator) or the caller's own (enterprise)."""
    items = service.list_agreements(session, principal, request.app.state.settings)
    return json_response(AgreementList(items=items))


@router.put("/agreements/{account_id}", response_model=AgreementOut)
def set_agreement(
    account_id: uuid.UUID,
    body: AgreementIn,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Set an enterprise's agency agreement (used by days settled from now on)."""
    state = request.app.state
    out = service.set_agreement(
        session, principal, account_id, body, state.clock.now(), state.settings
    )
    return commit_json(session, idem, 200, out)
