"""The grid company's interface: signed intraday instructions, schedule versions, webhook deliveries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "grid_signing_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("revoked_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_grid_signing_keys_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_grid_signing_keys"),
        sa.UniqueConstraint("key_id", name="uq_grid_signing_keys_key_id"),
    )
    op.create_index("ix_grid_signing_keys_account_id", "grid_signing_keys", ["account_id"])
    op.create_table(
        "grid_instructions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instruction_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("intervals", JSON_DOC, nullable=False),
        sa.Column("target_kw", JSON_DOC, nullable=False),
        sa.Column("feasible_kw", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", UTC_TS, nullable=False),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("schedule_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_grid_instructions_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_grid_instructions"),
        sa.UniqueConstraint("instruction_id", name="uq_grid_instructions_instruction_id"),
    )
    op.create_index("ix_grid_instructions_account_id", "grid_instructions", ["account_id"])
    op.create_index("ix_grid_instructions_day", "grid_instructions", ["day"])
    op.create_table(
        "grid_schedule_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("document", JSON_DOC, nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grid_schedule_versions"),
        sa.UniqueConstraint("day", "version", name="uq_grid_schedule_versions_day"),
    )
    op.create_table(
        "grid_webhook_deliveries",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TS, nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("delivered_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["grid_schedule_versions.id"],
            name="fk_grid_webhook_deliveries_version_id_grid_schedule_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_grid_webhook_deliveries"),
    )
    op.create_index(
        "ix_grid_webhook_deliveries_due",
        "grid_webhook_deliveries",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("grid_webhook_deliveries")
    op.drop_table("grid_schedule_versions")
    op.drop_table("grid_instructions")
    op.drop_table("grid_signing_keys")
