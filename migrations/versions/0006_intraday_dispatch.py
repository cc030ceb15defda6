"""Intraday dispatch: current pool targets, corrections and delivery tracking.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The pool's current target per product and interval: the award until a grid
    # instruction changes it; existing rows start at their award.
    with op.batch_alter_table("pool_targets") as batch:
        batch.add_column(sa.Column("target_kw", sa.Float(), nullable=True))
        batch.add_column(sa.Column("delivered_kw", sa.Float(), nullable=True))
    op.execute("UPDATE pool_targets SET target_kw = awarded_kw")
    with op.batch_alter_table("pool_targets") as batch:
        batch.alter_column("target_kw", existing_type=sa.Float(), nullable=False)
    op.create_table(
        "asset_deliveries",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("measured_kw", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_asset_deliveries_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_asset_deliveries_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("day", "asset_id", "interval", name="pk_asset_deliveries"),
    )
    op.create_index("ix_asset_deliveries_account_id", "asset_deliveries", ["account_id"])
    op.create_index("ix_asset_deliveries_asset_id", "asset_deliveries", ["asset_id"])


def downgrade() -> None:
    op.drop_index("ix_asset_deliveries_asset_id", table_name="asset_deliveries")
    op.drop_index("ix_asset_deliveries_account_id", table_name="asset_deliveries")
    op.drop_table("asset_deliveries")
    with op.batch_alter_table("pool_targets") as batch:
        batch.drop_column("delivered_kw")
        batch.drop_column("target_kw")
