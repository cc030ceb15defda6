"""Green power and carbon: metered energy carriers, green certificates and contracts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meter_readings",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("commodity", sa.String(16), nullable=False),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("reported_quantity", sa.Float(), nullable=False),
        sa.Column("reported_unit", sa.String(8), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_meter_readings_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_meter_readings_site_id_sites"),
        sa.PrimaryKeyConstraint("site_id", "commodity", "ts", name="pk_meter_readings"),
    )
    op.create_index("ix_meter_readings_account_id_ts", "meter_readings", ["account_id", "ts"])
    op.create_table(
        "green_contracts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("delivery_start", UTC_TS, nullable=False),
        sa.Column("delivery_end", UTC_TS, nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_green_contracts_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name="fk_green_contracts_created_by_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_green_contracts"),
    )
    op.create_index("ix_green_contracts_account_id", "green_contracts", ["account_id"])
    op.create_table(
        "green_certificates",
        sa.Column("gec_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("production_month", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("claimed_month", sa.Date(), nullable=True),
        sa.Column("claimed_at", UTC_TS, nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_green_certificates_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["green_contracts.id"],
            name="fk_green_certificates_contract_id_green_contracts",
        ),
        sa.PrimaryKeyConstraint("gec_id", name="pk_green_certificates"),
    )
    op.create_index("ix_green_certificates_account_id", "green_certificates", ["account_id"])
    op.create_index("ix_green_certificates_contract_id", "green_certificates", ["contract_id"])


def downgrade() -> None:
    op.drop_table("green_certificates")
    op.drop_table("green_contracts")
    op.drop_table("meter_readings")
