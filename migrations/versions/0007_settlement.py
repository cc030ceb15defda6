"""Settlement: M&V results, scores, revenue shares, statements and the sealed evidence ledger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)

# The evidence ledger is append-only: the database itself refuses to change a sealed record.
PG_LEDGER_GUARD = """
CREATE FUNCTION ledger_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_records is append-only';
END $$;
CREATE TRIGGER ledger_records_no_update BEFORE UPDATE OR DELETE ON ledger_records
    FOR EACH ROW EXECUTE FUNCTION ledger_records_append_only();
"""
SQLITE_LEDGER_GUARD = (
    "CREATE TRIGGER ledger_records_no_update BEFORE UPDATE ON ledger_records "
    "BEGIN SELECT RAISE(ABORT, 'ledger_records is append-only'); END",
    "CREATE TRIGGER ledger_records_no_delete BEFORE DELETE ON ledger_records "
    "BEGIN SELECT RAISE(ABORT, 'ledger_records is append-only'); END",
)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "agency_agreements",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("ratio_bp", sa.Integer(), nullable=False),
        sa.Column("fee_fen_per_mwh", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        _fk("agency_agreements", "account_id", "accounts"),
        _fk("agency_agreements", "updated_by", "accounts"),
        sa.PrimaryKeyConstraint("account_id", name="pk_agency_agreements"),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settled_at", UTC_TS, nullable=False),
        sa.Column("settled_by", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("payment_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("aggregator_fen", sa.BigInteger(), nullable=False),
        sa.Column("enterprises_net_fen", sa.BigInteger(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        _fk("settlements", "settled_by", "accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_settlements"),
        sa.UniqueConstraint("day", "version", name="uq_settlements_day"),
    )
    op.create_table(
        "settlement_intervals",
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("awarded_kw", sa.Float(), nullable=False),
        sa.Column("price_cny_per_mwh", sa.Float(), nullable=False),
        sa.Column("delivered_kw", sa.Float(), nullable=False),
        sa.Column("response_rate", sa.Float(), nullable=False),
        sa.Column("payment_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        _fk("settlement_intervals", "settlement_id", "settlements"),
        sa.PrimaryKeyConstraint(
            "settlement_id", "product", "interval", name="pk_settlement_intervals"
        ),
    )
    op.create_table(
        "settlement_shares",
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("allocated_kw", sa.Float(), nullable=False),
        sa.Column("response_kw", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("payment_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        _fk("settlement_shares", "settlement_id", "settlements"),
        _fk("settlement_shares", "account_id", "accounts"),
        sa.PrimaryKeyConstraint(
            "settlement_id", "account_id", "product", "interval", name="pk_settlement_shares"
        ),
    )
    op.create_index("ix_settlement_shares_account_id", "settlement_shares", ["account_id"])
    op.create_table(
        "settlement_statements",
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("allocated_kwh", sa.Float(), nullable=False),
        sa.Column("response_kwh", sa.Float(), nullable=False),
        sa.Column("positive_mwh", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("ratio_bp", sa.Integer(), nullable=False),
        sa.Column("fee_fen_per_mwh", sa.Integer(), nullable=False),
        sa.Column("payment_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("aggregator_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        _fk("settlement_statements", "settlement_id", "settlements"),
        _fk("settlement_statements", "account_id", "accounts"),
        sa.PrimaryKeyConstraint(
            "settlement_id", "account_id", "product", name="pk_settlement_statements"
        ),
    )
    op.create_index("ix_settlement_statements_account_id", "settlement_statements", ["account_id"])
    op.create_table(
        "ledger_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sealed_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_records"),
        sa.UniqueConstraint("day", "seq", name="uq_ledger_records_day"),
    )
    op.create_index("ix_ledger_records_day_account", "ledger_records", ["day", "account_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_LEDGER_GUARD)
    else:
        for statement in SQLITE_LEDGER_GUARD:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_records_no_update ON ledger_records")
        op.execute("DROP FUNCTION ledger_records_append_only()")
    for table in (
        "ledger_records",
        "settlement_statements",
        "settlement_shares",
        "settlement_intervals",
        "settlements",
        "agency_agreements",
    ):
        op.drop_table(table)
