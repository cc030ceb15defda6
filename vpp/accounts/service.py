"""Creating accounts and issuing or revoking keys (shared by the API and the CLI)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from vpp.accounts import repository
from vpp.kit.audit import audit
from vpp.kit.auth import Principal, generate_token, hash_token
from vpp.kit.errors import Problem, field_error, not_found
from vpp.models import Account, ApiKey
from vpp.models.base import utcnow


def create_account(session: Session, name: str, kind: str, actor: Principal | None) -> Account:
    if repository.account_name_taken(session, name):
        raise Problem(
            409,
            f"an account named {name!r} exists",
            errors=[{"field": "name", "rule": "unique", "message": "name taken"}],
        )
    account = Account(name=name, kind=kind)
    session.add(account)
    session.flush()
    audit(session, actor, "account.create", "account", account.id, {"kind": kind})
    return account


def issue_key(
    session: Session,
    account_id: uuid.UUID,
    name: str,
    expires_at: datetime | None,
    actor: Principal | None,
) -> tuple[ApiKey, str]:
    """Create a key for the account; returns the row and the token (shown once)."""
    account = repository.get_account(session, account_id)
    if account is None:
        raise field_error("account_id", "exists", "no such account", status=404)
    if expires_at is not None and expires_at <= utcnow():
        raise field_error("expires_at", "future", "must be in the future")
    token, prefix = generate_token()
    key = ApiKey(
        account_id=account.id,
        name=name,
        token_hash=hash_token(token),
        prefix=prefix,
        role=account.kind,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    audit(session, actor, "key.create", "api_key", key.id, {"account_id": str(account.id)})
    return key, token


def revoke_key(session: Session, key_id: uuid.UUID, actor: Principal | None) -> ApiKey:
    key = repository.get_key(session, key_id)
    if key is None:
        raise not_found("key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit(session, actor, "key.revoke", "api_key", key.id)
    return key
