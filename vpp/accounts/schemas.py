"""Request and response bodies of the admin routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AccountKind = Literal["enterprise", "operator", "grid", "admin"]


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique display name.")
    kind: AccountKind


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: AccountKind
    created_at: datetime


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    name: str = Field(default="", max_length=200)
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (UTC offset required)."
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    prefix: str
    role: AccountKind
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    token: str = Field(description="The bearer token. Shown this once; only its hash is kept.")


class Me(BaseModel):
    """Who the caller is, and the service's clock (which runs faster in the demo)."""

    account_id: uuid.UUID
    account_name: str
    role: AccountKind
    key_id: uuid.UUID
    key_expires_at: datetime | None
    now: datetime = Field(description="The service's current time (UTC).")
