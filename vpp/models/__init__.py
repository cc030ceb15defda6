"""SQLAlchemy mapped classes; importing this package registers every table."""

from vpp.models.accounts import ACCOUNT_KINDS, Account, ApiKey
from vpp.models.assets import Asset, Site
from vpp.models.audit import AuditEntry
from vpp.models.base import Base, new_id, utcnow
from vpp.models.bidding import AwardRow, BidAllocation, BidRow, FirmSchedule, JobRun
from vpp.models.commands import CommandEvent, SetpointCommandRow
from vpp.models.forecasts import PoolOutlookRow
from vpp.models.green import GreenCertificate, GreenContract, MeterReading
from vpp.models.grid import GridInstruction, GridSigningKey, ScheduleVersion, WebhookDelivery
from vpp.models.idempotency import IdempotencyRecord
from vpp.models.plans import AssetDelivery, PlannedSetpointRow, PoolTarget
from vpp.models.settlement import (
    AgencyAgreement,
    LedgerRecord,
    Settlement,
    SettlementInterval,
    SettlementShare,
    SettlementStatement,
)
from vpp.models.telemetry import TelemetryReading

__all__ = [
    "ACCOUNT_KINDS",
    "Account",
    "AgencyAgreement",
    "ApiKey",
    "Asset",
    "AssetDelivery",
    "AuditEntry",
    "AwardRow",
    "Base",
    "BidAllocation",
    "BidRow",
    "CommandEvent",
    "FirmSchedule",
    "GreenCertificate",
    "GreenContract",
    "GridInstruction",
    "GridSigningKey",
    "IdempotencyRecord",
    "JobRun",
    "LedgerRecord",
    "MeterReading",
    "PlannedSetpointRow",
    "PoolOutlookRow",
    "PoolTarget",
    "ScheduleVersion",
    "SetpointCommandRow",
    "Settlement",
    "SettlementInterval",
    "SettlementShare",
    "SettlementStatement",
    "Site",
    "TelemetryReading",
    "WebhookDelivery",
    "new_id",
    "utcnow",
]
