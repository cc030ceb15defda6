"""SQLAlchemy mapped classes; importing this package registers every table."""

from vpp.models.accounts import ACCOUNT_KINDS, Account, ApiKey
from vpp.models.assets import Asset, Site
from vpp.models.audit import AuditEntry
from vpp.models.base import Base, new_id, utcnow
from vpp.models.bidding import AwardRow, BidAllocation, BidRow, FirmSchedule, JobRun
from vpp.models.commands import CommandEvent, SetpointCommandRow
from vpp.models.idempotency import IdempotencyRecord
from vpp.models.plans import PlannedSetpointRow, PoolTarget
from vpp.models.telemetry import TelemetryReading

__all__ = [
    "ACCOUNT_KINDS",
    "Account",
    "ApiKey",
    "Asset",
    "AuditEntry",
    "AwardRow",
    "Base",
    "BidAllocation",
    "BidRow",
    "CommandEvent",
    "FirmSchedule",
    "IdempotencyRecord",
    "JobRun",
    "PlannedSetpointRow",
    "PoolTarget",
    "SetpointCommandRow",
    "Site",
    "TelemetryReading",
    "new_id",
    "utcnow",
]
