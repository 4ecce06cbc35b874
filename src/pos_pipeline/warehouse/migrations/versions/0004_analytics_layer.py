"""analytics layer: taxes of each transaction, rollups and daily stock kept by the loader, views for BI tools

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pos_pipeline.analytics import rollups, views

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUM = sa.Numeric(precision=16, scale=2)
QUANTITY_SUM = sa.Numeric(precision=16, scale=3)

# Receipts already loaded were checked against the tax law when they came in, so their taxes
# are recomputed exactly from their lines and the rates in force on their local date.
_BACKFILL_TAXES = """
INSERT INTO transaction_taxes (transaction_id, tax_code, rate, taxable_amount, amount)
SELECT l.transaction_id, l.tax_code, r.rate, l.taxable, round(l.taxable * r.rate, 2)
FROM (
    SELECT i.transaction_id, c.tax_code, sum(i.line_total) AS taxable
    FROM items_purchased i CROSS JOIN LATERAL unnest(i.tax_codes) AS c (tax_code)
    GROUP BY 1, 2
) l
JOIN transactions t USING (transaction_id)
JOIN stores s USING (store_id)
JOIN tax_rates r ON r.province = s.province AND r.tax_code = l.tax_code
    AND t.local_time::date >= r.effective_from
    AND (r.effective_to IS NULL OR t.local_time::date < r.effective_to)
"""


def _rollup_table(name: str, keys: list[sa.Column[object]], measures: list[sa.Column[object]]) -> None:
    op.create_table(
        name,
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=False),
        *keys,
        *measures,
        sa.PrimaryKeyConstraint("local_date", "store_id", *(k.name for k in keys), name=op.f(f"pk_{name}")),
        schema="analytics",
    )


def upgrade() -> None:
    op.create_table(
        "transaction_taxes",
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("tax_code", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=7, scale=6), nullable=False),
        sa.Column("taxable_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name=op.f("fk_transaction_taxes_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", "tax_code", name=op.f("pk_transaction_taxes")),
    )
    op.execute(_BACKFILL_TAXES)
    op.create_index(
        "ix_inventory_movements_stock_in",
        "inventory_movements",
        ["reason", "store_id", "sku"],
        postgresql_where=sa.text("reason <> 'sale'"),
    )

    op.execute("CREATE SCHEMA analytics")
    count, money = sa.Integer(), SUM
    _rollup_table(
        "rollup_store_day",
        [],
        [
            sa.Column("transactions", count, nullable=False),
            sa.Column("item_lines", count, nullable=False),
            sa.Column("units", QUANTITY_SUM, nullable=False),
            sa.Column("sales", money, nullable=False),
            sa.Column("zero_rated_sales", money, nullable=False),
            sa.Column("tax_total", money, nullable=False),
            sa.Column("rounding", money, nullable=False),
            sa.Column("total", money, nullable=False),
            sa.Column("member_transactions", count, nullable=False),
            sa.Column("member_sales", money, nullable=False),
        ],
    )
    _rollup_table(
        "rollup_store_day_tax",
        [sa.Column("tax_code", sa.String(length=3), nullable=False)],
        [
            sa.Column("transactions", count, nullable=False),
            sa.Column("taxable_amount", money, nullable=False),
            sa.Column("tax_amount", money, nullable=False),
        ],
    )
    _rollup_table(
        "rollup_product_day",
        [sa.Column("sku", sa.String(length=32), nullable=False)],
        [
            sa.Column("lines", count, nullable=False),
            sa.Column("units", QUANTITY_SUM, nullable=False),
            sa.Column("sales", money, nullable=False),
            sa.Column("discount", money, nullable=False),
            sa.Column("promo_lines", count, nullable=False),
        ],
    )
    _rollup_table(
        "rollup_store_hour",
        [sa.Column("local_hour", sa.SmallInteger(), nullable=False)],
        [sa.Column("transactions", count, nullable=False), sa.Column("sales", money, nullable=False)],
    )
    _rollup_table(
        "rollup_basket_day",
        [
            sa.Column("item_lines", sa.SmallInteger(), nullable=False),
            sa.Column("value_band", sa.Integer(), nullable=False),
        ],
        [sa.Column("transactions", count, nullable=False), sa.Column("sales", money, nullable=False)],
    )
    _rollup_table(
        "rollup_payment_day",
        [sa.Column("payment_method", sa.String(length=16), nullable=False)],
        [
            sa.Column("transactions", count, nullable=False),
            sa.Column("sales", money, nullable=False),
            sa.Column("total", money, nullable=False),
        ],
    )
    op.create_table(
        "rollup_stock_day",
        sa.Column("store_id", sa.String(length=16), nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("sold", QUANTITY_SUM, nullable=False),
        sa.Column("received", QUANTITY_SUM, nullable=False),
        sa.Column("closing", QUANTITY_SUM, nullable=False),
        sa.PrimaryKeyConstraint("store_id", "sku", "local_date", name=op.f("pk_rollup_stock_day")),
        schema="analytics",
    )
    op.create_index(
        "ix_rollup_stock_day_closed_empty",
        "rollup_stock_day",
        ["local_date"],
        schema="analytics",
        postgresql_where=sa.text("closing <= 0"),
    )
    for statement in rollups.rebuild_statements():
        op.execute(statement)
    for statement in views.view_statements():
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP SCHEMA analytics CASCADE")
    op.drop_index("ix_inventory_movements_stock_in", table_name="inventory_movements")
    op.drop_table("transaction_taxes")
