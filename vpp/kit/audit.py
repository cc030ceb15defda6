"""Append an entry to the audit log in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vpp.kit.auth import Principal
from vpp.models import AuditEntry


def audit(
    session: Session,
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record who did what to which object; committed with the write it describes."""
    session.add(
        AuditEntry(
            account_id=principal.account_id if principal else None,
            key_id=principal.key_id if principal else None,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            detail=detail or {},
        )
    )
