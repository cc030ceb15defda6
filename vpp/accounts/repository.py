"""Queries on accounts and API keys."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp.models import Account, ApiKey


def get_account(session: Session, account_id: uuid.UUID) -> Account | None:
    return session.get(Account, account_id)


def find_account(session: Session, name_or_id: str) -> Account | None:
    try:
        account = session.get(Account, uuid.UUID(name_or_id))
    except ValueError:
        account = None
    if account is None:
        account = session.execute(
            select(Account).where(Account.name == name_or_id)
        ).scalar_one_or_none()
    return account


def account_name_taken(session: Session, name: str) -> bool:
    return session.execute(select(Account.id).where(Account.name == name)).first() is not None


def get_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    return session.get(ApiKey, key_id)
