"""Firm schedules without foreign keys: the bid writes one row per asset and interval
with a firm deviation (576,000 at 10,000 assets in the cycle benchmark's draft), and
checking the two keys was 40 % of writing them.

Measured on PostgreSQL 15, 576,000 rows in one COPY: 4.8 s with the keys to ``assets``
and ``accounts``, 2.8 s without. As for ``planned_setpoints`` (migration 0012) and
``setpoint_commands`` (0013), the rows are written only by the bid service from the
assets it has just read; assets are retired, never deleted. The indexes stay (they cost
nothing measurable here).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "firm_schedules"
ASSET_FK = "fk_firm_schedules_asset_id_assets"
ACCOUNT_FK = "fk_firm_schedules_account_id_accounts"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:  # SQLite rebuilds the table
        batch.drop_constraint(ASSET_FK, type_="foreignkey")
        batch.drop_constraint(ACCOUNT_FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.create_foreign_key(ACCOUNT_FK, "accounts", ["account_id"], ["id"])
        batch.create_foreign_key(ASSET_FK, "assets", ["asset_id"], ["id"])
