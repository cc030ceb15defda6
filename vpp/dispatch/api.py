"""Routes for setpoint commands: manual setpoints and the commands' state and history."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from vpp.assets.service import tenant_scope
from vpp.dispatch import repository, service
from vpp.dispatch.planning import read_plan
from vpp.dispatch.schemas import (
    AssetPlanOut,
    CommandDetail,
    CommandEventOut,
    CommandOut,
    DispatchPlanOut,
    PoolTargetOut,
    SetpointCreate,
    TrackingOut,
)
from vpp.dispatch.tracking import read_tracking
from vpp.domain.commands import CommandState
from vpp.kit.auth import Principal, require
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, after_id, next_id_cursor
from vpp.kit.responses import commit_json, json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["dispatch"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
reader = require("enterprise", "operator")
operator = require("operator")


@router.get("/commands", response_model=Page[CommandOut])
def list_commands(
    cursor: str | None = None,
    limit: int = Limit,
    asset_id: uuid.UUID | None = Query(None, alias="asset"),
    state: CommandState | None = None,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    rows = repository.list_commands(
        session,
        tenant_scope(principal),
        after_id(cursor),
        limit,
        asset_id=asset_id,
        state=state.value if state else None,
    )
    return json_response(
        Page[CommandOut](
            items=[CommandOut.model_validate(r) for r in rows],
            next_cursor=next_id_cursor([r.id for r in rows], limit),
        )
    )


@router.get("/commands/{command_id}", response_model=CommandDetail)
def read_command(
    command_id: uuid.UUID,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    row = service.get_command(session, principal, command_id)
    history = [CommandEventOut.model_validate(e) for e in repository.history_of(session, row)]
    return json_response(
        CommandDetail(**CommandOut.model_validate(row).model_dump(), history=history)
    )


@router.post("/assets/{asset_id}/setpoints", status_code=201, response_model=CommandOut)
def create_setpoint(
    asset_id: uuid.UUID,
    body: SetpointCreate,
    request: Request,
    principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    """Queue a manual setpoint for the asset (operator only); delivered through its adapter."""
    now = request.app.state.clock.now()
    row = service.create_manual_setpoint(session, principal, asset_id, body, now)
    return commit_json(session, idem, 201, CommandOut.model_validate(row))


@router.get("/dispatch/plan", response_model=DispatchPlanOut)
def read_dispatch_plan(
    day: date,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The day-ahead plan: per-asset setpoints (enterprise: own assets) and, for
    operators, the pool's awards against planned delivery with any shortfall."""
    targets, by_asset = read_plan(session, day, tenant_scope(principal))
    return json_response(
        DispatchPlanOut(
            day=day,
            targets=[PoolTargetOut.model_validate(t) for t in targets],
            assets=[
                AssetPlanOut(
                    asset_id=asset_id,
                    baseline_kw=[round(r.baseline_kw, 3) for r in rows],
                    deviation_kw=[round(r.deviation_kw, 3) for r in rows],
                    setpoint_kw=[round(r.setpoint_kw, 3) for r in rows],
                )
                for asset_id, rows in by_asset.items()
            ],
        )
    )


@router.get("/dispatch/tracking", response_model=TrackingOut)
def read_dispatch_tracking(
    day: date,
    request: Request,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """Delivered against awarded, target and planned per product and interval: the pool's
    (operators) or, for an enterprise, only its own assets' contribution."""
    tracking = read_tracking(
        session,
        request.app.state.packs,
        day,
        tenant_scope(principal),
        request.app.state.clock.now(),
    )
    return json_response(TrackingOut.model_validate(tracking))
