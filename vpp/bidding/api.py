"""Routes for markets, bids (draft, edit, approve, submit), awards and participation."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vpp.bidding import repository, service, workflow
from vpp.bidding.schemas import (
    AwardList,
    AwardOut,
    BidDetail,
    BidEdit,
    BidOut,
    BidState,
    DraftRequest,
    MarketList,
    Participation,
)
from vpp.kit.auth import Principal, authenticated, require
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, after_id, next_id_cursor
from vpp.kit.responses import commit_json, json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["bidding"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
operator = require("operator")
award_reader = require("operator", "grid")
participant_reader = require("enterprise", "operator")


def detail_of(row: object) -> BidDetail:
    return BidDetail.model_validate(row)


@router.get("/markets", response_model=MarketList)
def list_markets(request: Request, principal: Principal = Depends(authenticated)) -> Response:
    """Every market product's rule pack: version, side, resolution, gate and rules."""
    state = request.app.state
    return json_response(MarketList(items=service.markets(state.packs, state.clock.now())))


@router.get("/bids", response_model=Page[BidOut])
def list_bids(
    cursor: str | None = None,
    limit: int = Limit,
    day: date | None = None,
    product: str | None = None,
    state: BidState | None = None,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    rows = repository.list_bids(
        session,
        after_id(cursor),
        limit,
        day=day,
        product=product,
        states=[state.value] if state else None,
    )
    return json_response(
        Page[BidOut](
            items=[BidOut.model_validate(r) for r in rows],
            next_cursor=next_id_cursor([r.id for r in rows], limit),
        )
    )


@router.post("/bids", status_code=201, response_model=list[BidOut])
async def draft_bids(
    body: DraftRequest,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Optimise the pool's offers for a market day into one draft bid per product."""
    rows = await workflow.draft(request.app.state, session, body, principal)
    items = [BidOut.model_validate(r).model_dump(mode="json") for r in rows]
    idem.record(session, 201, items)
    await run_in_threadpool(session.commit)
    return JSONResponse(items, status_code=201)


@router.get("/bids/{bid_id}", response_model=BidDetail)
def read_bid(
    bid_id: uuid.UUID,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    return json_response(detail_of(service.get_bid(session, bid_id)))


@router.patch("/bids/{bid_id}", response_model=BidDetail)
def edit_bid(
    bid_id: uuid.UUID,
    body: BidEdit,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Replace a draft's ladder (validated against its pack and the fleet)."""
    state = request.app.state
    row = service.edit_bid(
        session, principal, state.packs, bid_id, body, state.clock.now(), state.participant
    )
    return commit_json(session, idem, 200, detail_of(row))


@router.post("/bids/{bid_id}/approve", response_model=BidDetail)
def approve_bid(
    bid_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Approve a draft for submission (it must pass its pack now)."""
    state = request.app.state
    row = service.approve_bid(
        session, principal, state.packs, bid_id, state.clock.now(), state.participant
    )
    return commit_json(session, idem, 200, detail_of(row))


@router.post("/bids/{bid_id}/submit", response_model=BidDetail)
async def submit_bid(
    bid_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Submit an approved bid to the market, exactly once: a repeated call (or a retry
    after a crash) returns the stored receipt and changes nothing."""
    row = await workflow.submit(request.app.state, session, bid_id, principal)
    return json_response(detail_of(row))


@router.get("/awards", response_model=AwardList)
def list_awards(
    day: date,
    principal: Principal = Depends(award_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    rows = repository.awards_of_day(session, day)
    return json_response(AwardList(day=day, items=[AwardOut.model_validate(r) for r in rows]))


@router.get("/participation", response_model=Participation)
def read_participation(
    day: date,
    principal: Principal = Depends(participant_reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """How much of each asset's flexibility was offered and awarded (enterprise: own)."""
    return json_response(service.participation(session, principal, day))
