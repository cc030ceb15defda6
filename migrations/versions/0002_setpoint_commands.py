"""Setpoint commands (outbox) and their event history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "setpoint_commands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("adapter", sa.String(64), nullable=False),
        sa.Column("interval_start", UTC_TS, nullable=False),
        sa.Column("power_kw", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.Column("next_attempt_at", UTC_TS, nullable=False),
        sa.Column("sent_at", UTC_TS, nullable=True),
        sa.Column("finished_at", UTC_TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_setpoint_commands_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_setpoint_commands_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_setpoint_commands"),
    )
    op.create_index("ix_setpoint_commands_asset_id", "setpoint_commands", ["asset_id"])
    op.create_index("ix_setpoint_commands_account_id", "setpoint_commands", ["account_id"])
    op.create_index("ix_setpoint_commands_due", "setpoint_commands", ["state", "next_attempt_at"])
    op.create_table(
        "command_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["setpoint_commands.id"],
            name="fk_command_events_command_id_setpoint_commands",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_command_events"),
    )
    op.create_index("ix_command_events_command_id", "command_events", ["command_id"])


def downgrade() -> None:
    op.drop_table("command_events")
    op.drop_table("setpoint_commands")
