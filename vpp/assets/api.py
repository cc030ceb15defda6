"""Routes for sites, assets and the pool summary."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from vpp.assets import repository, service
from vpp.assets.schemas import (
    AssetCreate,
    AssetOut,
    AssetUpdate,
    PoolSummary,
    SiteCreate,
    SiteOut,
    SiteUpdate,
)
from vpp.domain.assets import AssetKind
from vpp.kit.auth import Principal, require
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, after_id, next_id_cursor
from vpp.kit.responses import commit_json, json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["enrollment"])
enterprise = require("enterprise")
reader = require("enterprise", "operator")
operator = require("operator")

Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("/sites", response_model=Page[SiteOut])
def list_sites(
    cursor: str | None = None,
    limit: int = Limit,
    include_retired: bool = False,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    sites = repository.list_sites(
        session, service.tenant_scope(principal), after_id(cursor), limit, include_retired
    )
    return json_response(
        Page[SiteOut](
            items=[SiteOut.model_validate(s) for s in sites],
            next_cursor=next_id_cursor([s.id for s in sites], limit),
        )
    )


@router.post("/sites", status_code=201, response_model=SiteOut)
def create_site(
    body: SiteCreate,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    site = service.create_site(session, principal, body)
    return commit_json(session, idem, 201, SiteOut.model_validate(site))


@router.get("/sites/{site_id}", response_model=SiteOut)
def read_site(
    site_id: uuid.UUID,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    return json_response(SiteOut.model_validate(service.get_site(session, principal, site_id)))


@router.patch("/sites/{site_id}", response_model=SiteOut)
def update_site(
    site_id: uuid.UUID,
    body: SiteUpdate,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    site = service.update_site(session, principal, site_id, body)
    return commit_json(session, idem, 200, SiteOut.model_validate(site))


@router.delete("/sites/{site_id}", response_model=SiteOut)
def retire_site(
    site_id: uuid.UUID,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    site = service.retire_site(session, principal, site_id)
    return commit_json(session, idem, 200, SiteOut.model_validate(site))


@router.get("/assets", response_model=Page[AssetOut])
def list_assets(
    cursor: str | None = None,
    limit: int = Limit,
    kind: AssetKind | None = None,
    site_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = Query(None, description="Operator only: one enterprise."),
    include_retired: bool = False,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    assets = repository.list_assets(
        session,
        service.tenant_scope(principal),
        after_id(cursor),
        limit,
        kind=kind.value if kind else None,
        site_id=site_id,
        owner=account_id,
        include_retired=include_retired,
    )
    return json_response(
        Page[AssetOut](
            items=[service.asset_out(a) for a in assets],
            next_cursor=next_id_cursor([a.id for a in assets], limit),
        )
    )


@router.post("/assets", status_code=201, response_model=AssetOut)
def create_asset(
    body: AssetCreate,
    request: Request,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    asset = service.create_asset(
        session, principal, body, request.app.state.settings.adapter_config
    )
    return commit_json(session, idem, 201, service.asset_out(asset))


@router.get("/assets/{asset_id}", response_model=AssetOut)
def read_asset(
    asset_id: uuid.UUID,
    principal: Principal = Depends(reader),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    return json_response(service.asset_out(service.get_asset(session, principal, asset_id)))


@router.patch("/assets/{asset_id}", response_model=AssetOut)
def update_asset(
    asset_id: uuid.UUID,
    body: AssetUpdate,
    request: Request,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    asset = service.update_asset(
        session, principal, asset_id, body, request.app.state.settings.adapter_config
    )
    return commit_json(session, idem, 200, service.asset_out(asset))


@router.delete("/assets/{asset_id}", response_model=AssetOut)
def retire_asset(
    asset_id: uuid.UUID,
    principal: Principal = Depends(enterprise),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    asset = service.retire_asset(session, principal, asset_id)
    return commit_json(session, idem, 200, service.asset_out(asset))


@router.get("/pool/summary", response_model=PoolSummary)
def pool_summary(
    _principal: Principal = Depends(operator),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    return json_response(service.pool_summary(session))
