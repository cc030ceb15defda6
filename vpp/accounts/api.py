"""Account routes: who am I (every role), and the admin's accounts and API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from vpp.accounts import repository, service
from vpp.accounts.schemas import AccountCreate, AccountOut, KeyCreate, KeyCreated, KeyOut, Me
from vpp.kit.auth import Principal, authenticated, require
from vpp.kit.errors import not_found
from vpp.kit.idempotency import Idempotency, idempotency
from vpp.kit.responses import commit_json, json_response
from vpp.kit.session import get_session

router = APIRouter(tags=["admin"])
admin_only = require("admin")


@router.get("/me", response_model=Me, tags=["accounts"])
def read_me(
    request: Request,
    principal: Principal = Depends(authenticated),
    session: Session = Depends(get_session, scope="function"),
) -> Response:
    """The caller's account, role and key, and the service's clock: what a client needs
    to pick its view (every role may call it)."""
    account = repository.get_account(session, principal.account_id)
    if account is None:
        raise not_found("account")
    return json_response(
        Me(
            account_id=account.id,
            account_name=account.name,
            role=principal.role,
            key_id=principal.key_id,
            key_expires_at=principal.expires_at,
            now=request.app.state.clock.now(),
        )
    )


@router.post("/accounts", status_code=201, response_model=AccountOut)
def create_account(
    body: AccountCreate,
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    account = service.create_account(session, body.name, body.kind, principal)
    return commit_json(session, idem, 201, AccountOut.model_validate(account))


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(
    body: KeyCreate,
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    key, token = service.issue_key(session, body.account_id, body.name, body.expires_at, principal)
    out = KeyCreated.model_validate({**KeyOut.model_validate(key).model_dump(), "token": token})
    return commit_json(session, idem, 201, out)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(
    key_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(admin_only),
    session: Session = Depends(get_session, scope="function"),
    idem: Idempotency = Depends(idempotency, scope="function"),
) -> JSONResponse:
    key = service.revoke_key(session, key_id, principal)
    response = commit_json(session, idem, 200, KeyOut.model_validate(key))
    request.app.state.key_cache.invalidate(key.id)
    return response
