"""Planned setpoints without foreign keys and with two indexes fewer: a day plan writes
one row per asset and interval (960,000 at 10,000 assets), and their upkeep was most of
writing it.

Measured on PostgreSQL 15 (960,000 rows in one statement): with the two foreign keys
(assets, accounts) and four indexes 30 s, 20 s in key order; without the keys 13 s;
with the primary key, ``(day, interval)`` and ``(account_id, day)`` alone 9.4 s, 7.5 s
in key order. The keys' checks probe two indexes per row; like ``telemetry`` and
``command_events`` (migration 0010), the rows are written only by the plan, in the
transaction that reads the assets it plans, and assets are retired, never deleted.
The index on ``asset_id`` served only the foreign key; ``(account_id, day)`` replaces
the one on ``account_id``: an enterprise reads its plan of a day or of a month.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "planned_setpoints"
ASSET_FK = "fk_planned_setpoints_asset_id_assets"
ACCOUNT_FK = "fk_planned_setpoints_account_id_accounts"


def upgrade() -> None:
    op.drop_index("ix_planned_setpoints_asset_id", table_name=TABLE)
    op.drop_index("ix_planned_setpoints_account_id", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:  # SQLite rebuilds the table
        batch.drop_constraint(ASSET_FK, type_="foreignkey")
        batch.drop_constraint(ACCOUNT_FK, type_="foreignkey")
    op.create_index("ix_planned_setpoints_account_day", TABLE, ["account_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_planned_setpoints_account_day", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.create_foreign_key(ACCOUNT_FK, "accounts", ["account_id"], ["id"])
        batch.create_foreign_key(ASSET_FK, "assets", ["asset_id"], ["id"])
    op.create_index("ix_planned_setpoints_account_id", TABLE, ["account_id"])
    op.create_index("ix_planned_setpoints_asset_id", TABLE, ["asset_id"])
