"""Settlement, statement, agreement and evidence bodies. Money is CNY as a decimal string."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SettleRequest(BaseModel):
    """Settle a market day now (a new version if its inputs changed since the last one)."""

    model_config = ConfigDict(extra="forbid")

    day: date = Field(description="Market day (Asia/Shanghai) to settle.")


class AgreementIn(BaseModel):
    """An enterprise's agency agreement: the aggregator's ratio and per-MWh fee."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    ratio: Decimal = Field(
        ge=0, le=1, description="Aggregator's share of the enterprise's net revenue (0.2 = 20 %)."
    )
    fee_cny_per_mwh: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100_000,
        description="Aggregator's fee per MWh of the enterprise's positive response, CNY/MWh.",
    )

    @field_validator("ratio")
    @classmethod
    def _basis_points(cls, value: Decimal) -> Decimal:
        if (value * 10_000) % 1 != 0:
            raise ValueError("at most 4 decimal places (a basis point)")
        return value

    @field_validator("fee_cny_per_mwh")
    @classmethod
    def _fen(cls, value: Decimal) -> Decimal:
        if (value * 100) % 1 != 0:
            raise ValueError("at most 2 decimal places (a fen)")
        return value


class AgreementOut(BaseModel):
    account_id: uuid.UUID
    ratio: Decimal
    fee_cny_per_mwh: Decimal
    default: bool = Field(description="True when no agreement is stored: the settings' default.")
    updated_at: datetime | None = None


class AgreementList(BaseModel):
    items: list[AgreementOut]


class StatementLine(BaseModel):
    """One enterprise's settled product on a day (or summed over a month)."""

    account_id: uuid.UUID
    product: str
    allocated_kwh: float = Field(description="Energy of its awarded allocation (kWh).")
    response_kwh: float = Field(description="Measured response energy (kWh, product direction).")
    flagged_intervals: int = Field(description="Asset intervals with a gap or interpolated value.")
    payment_cny: Decimal
    penalty_cny: Decimal
    gross_cny: Decimal = Field(description="payment - penalty.")
    aggregator_cny: Decimal = Field(description="The aggregator's share by the agreement.")
    net_cny: Decimal = Field(description="What the enterprise receives (negative: pays).")


class PoolTotals(BaseModel):
    payment_cny: Decimal
    penalty_cny: Decimal
    net_cny: Decimal = Field(description="payment - penalty of the whole pool.")
    aggregator_cny: Decimal
    enterprises_net_cny: Decimal
    flagged_intervals: int


class SettlementOut(BaseModel):
    id: uuid.UUID
    day: date
    version: int
    settled_at: datetime
    rule: str = Field(description="Baseline rule by product, as sealed.")
    inputs_sha256: str
    head_hash: str = Field(description="Hash of the version's last ledger record.")
    pool: PoolTotals | None = Field(default=None, description="Operator and grid only.")
    lines: list[StatementLine] = Field(
        default_factory=list, description="Enterprise: its own; operator: all; grid: none."
    )


class SettlementList(BaseModel):
    items: list[SettlementOut] = Field(description="Latest version of each settled day.")
    totals: list[StatementLine] = Field(
        default_factory=list, description="The lines summed by enterprise and product."
    )


class Evidence(BaseModel):
    """A sealed ledger excerpt; verify offline with ``vpp verify FILE``."""

    model_config = ConfigDict(extra="allow")

    format: str
    day: date
    records: list[dict[str, Any]]
