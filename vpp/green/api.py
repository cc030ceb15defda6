"""Routes of the energy-carbon ledger: meter readings, green-power contracts and
certificates, the month's green-power and carbon report, and footprint exports."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from vpp.green import repository, service
from vpp.green.schemas import (
    MONTH_PATTERN,
    CertificateOut,
    ClaimRequest,
    ClaimResult,
    ContractCreate,
    ContractOut,
    MeterBatch,
    MeterIngestResult,
    ReportOut,
    parse_month,
)
from vpp.kit.auth import Principal, require
from vpp.kit.errors import field_error
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from vpp.kit.responses import commit_json, csv_download, json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["green"])
enterprise = require("enterprise")
operator = require("operator")
reader = require("enterprise", "operator")
Month = Query(pattern=MONTH_PATTERN.pattern, description="Calendar month (Asia/Shanghai), YYYY-MM.")


@router.post("/meters/readings", response_model=MeterIngestResult)
def ingest_readings(
    body: MeterBatch,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Store metered carriers of the caller's sites (natural gas, heat, steam, water,
    hydrogen output, and electricity of load not enrolled as an asset), converted to each
    carrier's canonical unit. All or nothing; a reading already stored for the same site,
    commodity and ts is skipped and counted as a duplicate."""
    result = service.ingest_readings(session, principal, body)
    return commit_json(session, idem, 200, result)


@router.post("/green/contracts", status_code=201, response_model=ContractOut)
def create_contract(
    body: ContractCreate,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Record green power an enterprise bought (from a green-power award or a bilateral
    trade) and its GECs: 32-character ids, one per MWh, valid two years by default."""
    out = service.create_contract(session, principal, body)
    return commit_json(session, idem, 201, out)


@router.get("/green/certificates", response_model=Page[CertificateOut])
def list_certificates(
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    account_id: uuid.UUID | None = Query(None, description="Operator: one enterprise's."),
    valid_on: date | None = Query(None, description="Only certificates valid on this day."),
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """GECs by id: an enterprise sees its own, the operator every enterprise's."""
    owner = principal.account_id if principal.is_enterprise else account_id
    after = decode_cursor(cursor) if cursor is not None else None
    rows = repository.list_certificates(session, owner, after, limit, valid_on)
    next_cursor = encode_cursor(rows[-1].gec_id) if len(rows) == limit else None
    return json_response(
        Page[CertificateOut](
            items=[CertificateOut.model_validate(r) for r in rows], next_cursor=next_cursor
        )
    )


@router.post("/green/claims", response_model=ClaimResult)
def claim_certificates(
    body: ClaimRequest,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Mark the certificates the month's report uses as used for that month; a GEC is
    used once, so later months never count it again."""
    month = parse_month(body.month)
    result = service.claim_certificates(session, principal, request.app.state.settings, month)
    return commit_json(session, idem, 200, result)


def _report(
    request: Request,
    session: Session,
    principal: Principal,
    month: str,
    account_id: uuid.UUID | None,
) -> ReportOut:
    first_day = parse_month(month)
    if principal.is_enterprise:
        account_id = principal.account_id
    elif account_id is not None and not repository.account_exists(session, account_id):
        raise field_error("account_id", "enterprise_exists", "no such enterprise", status=404)
    computed = service.month_report(session, request.app.state.settings, first_day, account_id)
    return service.report_out(computed, with_park=account_id is None)


@router.get("/green/report", response_model=ReportOut)
def read_report(
    request: Request,
    month: str = Month,
    account_id: uuid.UUID | None = Query(None, description="Operator: one enterprise only."),
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The month's green-power and carbon report: per enterprise (an enterprise sees only
    its own) and, for the operator, the park. Green share by 15-minute and hourly matching
    of consumption with on-site PV and certified green power; self-consumption of on-site
    PV (绿电直连 >= 60 %); every carrier in tce (GB/T 2589) and kg CO2; t CO2 per tce;
    clean-energy share against the park target; CO2 avoided by load shifting."""
    return json_response(_report(request, session, principal, month, account_id))


@router.get("/green/report.csv", response_class=Response)
def read_report_csv(
    request: Request,
    month: str = Month,
    account_id: uuid.UUID | None = Query(None, description="Operator: one enterprise only."),
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The report as CSV: one row per scope and carrier, then the scope's total row."""
    out = _report(request, session, principal, month, account_id)
    return csv_download(service.report_csv(out), f"green-report-{month}.csv")


@router.get("/green/footprint.csv", response_class=Response)
def read_footprint_csv(
    request: Request,
    month: str = Month,
    account_id: uuid.UUID | None = Query(None, description="Operator: the enterprise."),
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """An enterprise's carbon footprint inputs of the month (product-footprint work):
    electricity by origin and every other carrier, with quantities, tce, CO2 and factors."""
    if not principal.is_enterprise and account_id is None:
        raise field_error("account_id", "required", "the operator must name the enterprise")
    out = _report(request, session, principal, month, account_id)
    return csv_download(
        service.footprint_csv(out, out.factors.carriers), f"carbon-footprint-{month}.csv"
    )
