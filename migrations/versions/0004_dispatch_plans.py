"""Day-ahead dispatch plans: planned setpoints per asset and the pool's targets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "planned_setpoints",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("baseline_kw", sa.Float(), nullable=False),
        sa.Column("deviation_kw", sa.Float(), nullable=False),
        sa.Column("setpoint_kw", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_planned_setpoints_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_planned_setpoints_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("day", "asset_id", "interval", name="pk_planned_setpoints"),
    )
    op.create_index("ix_planned_setpoints_account_id", "planned_setpoints", ["account_id"])
    op.create_index("ix_planned_setpoints_asset_id", "planned_setpoints", ["asset_id"])
    op.create_table(
        "pool_targets",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("awarded_kw", sa.Float(), nullable=False),
        sa.Column("planned_kw", sa.Float(), nullable=False),
        sa.Column("shortfall_kw", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "product", "interval", name="pk_pool_targets"),
    )


def downgrade() -> None:
    op.drop_table("pool_targets")
    op.drop_table("planned_setpoints")
