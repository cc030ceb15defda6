"""Telemetry keeps only its primary key: the time index of migration 0010 is dropped.

The BRIN index on ``telemetry.ts`` was meant to be nearly free, and it is to read, but on
PostgreSQL 15 its upkeep runs for every inserted row (the index's range map is looked up
and locked per tuple; PostgreSQL 17 caches it per statement): binary COPY of 1,000
assets' readings fell from about 250,000 to 160,000 rows/s with it. The reads it served
(every asset's latest reading, the interval's mean per asset, the pool's reading for
the grid) now probe the primary key (asset_id, ts) once per enrolled asset
(`vpp.telemetry.repository`), which costs a few milliseconds per thousand assets and
does not grow with the history. SQLite loses its B-tree on ``ts`` for the same reason.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_telemetry_ts", table_name="telemetry")


def downgrade() -> None:
    op.create_index("ix_telemetry_ts", "telemetry", ["ts"], postgresql_using="brin")
