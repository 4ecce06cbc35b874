"""analytics layer: taxes of each transaction, rollups and daily stock kept by the loader, views for BI tools

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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
    for statement in (*REBUILD_ROLLUPS, *CREATE_VIEWS):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP SCHEMA analytics CASCADE")
    op.drop_index("ix_inventory_movements_stock_in", table_name="inventory_movements")
    op.drop_table("transaction_taxes")


# The SQL as it stood when this revision was written: a migration must not change with the
# code that comes after it (pos_pipeline.analytics holds the current definitions).
REBUILD_ROLLUPS = (
    """
TRUNCATE analytics.rollup_store_day
""",
    """
INSERT INTO analytics.rollup_store_day AS r (local_date, store_id, transactions, item_lines, units, sales, zero_rated_sales, tax_total, rounding, total, member_transactions, member_sales)
        SELECT t.local_time::date, t.store_id, count(*), sum(l.item_lines), sum(l.units),
            sum(t.subtotal), sum(l.zero_rated), sum(t.tax_total), sum(t.rounding), sum(t.total),
            count(t.customer_id), coalesce(sum(t.subtotal) FILTER (WHERE t.customer_id IS NOT NULL), 0)
        FROM transactions t JOIN (
    SELECT i.transaction_id, count(*) AS item_lines,
        -- A weighed line counts as one unit: 0.754 kg of bananas is one item in the basket.
        sum(CASE WHEN p.unit = 'kg' THEN 1 ELSE i.quantity END) AS units,
        coalesce(sum(i.line_total) FILTER (WHERE cardinality(i.tax_codes) = 0), 0) AS zero_rated
    FROM items_purchased i JOIN products p USING (sku)
    GROUP BY i.transaction_id
) l USING (transaction_id)
        GROUP BY 1, 2 ORDER BY 1, 2 ON CONFLICT (local_date, store_id) DO UPDATE SET transactions = r.transactions + EXCLUDED.transactions, item_lines = r.item_lines + EXCLUDED.item_lines, units = r.units + EXCLUDED.units, sales = r.sales + EXCLUDED.sales, zero_rated_sales = r.zero_rated_sales + EXCLUDED.zero_rated_sales, tax_total = r.tax_total + EXCLUDED.tax_total, rounding = r.rounding + EXCLUDED.rounding, total = r.total + EXCLUDED.total, member_transactions = r.member_transactions + EXCLUDED.member_transactions, member_sales = r.member_sales + EXCLUDED.member_sales
""",
    """
TRUNCATE analytics.rollup_store_day_tax
""",
    """
INSERT INTO analytics.rollup_store_day_tax AS r (local_date, store_id, tax_code, transactions, taxable_amount, tax_amount)
        SELECT t.local_time::date, t.store_id, x.tax_code, count(*), sum(x.taxable_amount), sum(x.amount)
        FROM transactions t JOIN transaction_taxes x USING (transaction_id)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (local_date, store_id, tax_code) DO UPDATE SET transactions = r.transactions + EXCLUDED.transactions, taxable_amount = r.taxable_amount + EXCLUDED.taxable_amount, tax_amount = r.tax_amount + EXCLUDED.tax_amount
""",
    """
TRUNCATE analytics.rollup_product_day
""",
    """
INSERT INTO analytics.rollup_product_day AS r (local_date, store_id, sku, lines, units, sales, discount, promo_lines)
        SELECT t.local_time::date, t.store_id, i.sku, count(*), sum(i.quantity), sum(i.line_total),
            sum(i.discount), count(*) FILTER (WHERE i.discount > 0)
        FROM transactions t JOIN items_purchased i USING (transaction_id)
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (local_date, store_id, sku) DO UPDATE SET lines = r.lines + EXCLUDED.lines, units = r.units + EXCLUDED.units, sales = r.sales + EXCLUDED.sales, discount = r.discount + EXCLUDED.discount, promo_lines = r.promo_lines + EXCLUDED.promo_lines
""",
    """
TRUNCATE analytics.rollup_store_hour
""",
    """
INSERT INTO analytics.rollup_store_hour AS r (local_date, store_id, local_hour, transactions, sales)
        SELECT t.local_time::date, t.store_id, extract(hour FROM t.local_time)::smallint, count(*),
            sum(t.subtotal)
        FROM transactions t
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (local_date, store_id, local_hour) DO UPDATE SET transactions = r.transactions + EXCLUDED.transactions, sales = r.sales + EXCLUDED.sales
""",
    """
TRUNCATE analytics.rollup_basket_day
""",
    """
INSERT INTO analytics.rollup_basket_day AS r (local_date, store_id, item_lines, value_band, transactions, sales)
        SELECT t.local_time::date, t.store_id, l.item_lines,
            floor(t.subtotal / 10)::int * 10, count(*), sum(t.subtotal)
        FROM transactions t JOIN (
    SELECT i.transaction_id, count(*) AS item_lines,
        -- A weighed line counts as one unit: 0.754 kg of bananas is one item in the basket.
        sum(CASE WHEN p.unit = 'kg' THEN 1 ELSE i.quantity END) AS units,
        coalesce(sum(i.line_total) FILTER (WHERE cardinality(i.tax_codes) = 0), 0) AS zero_rated
    FROM items_purchased i JOIN products p USING (sku)
    GROUP BY i.transaction_id
) l USING (transaction_id)
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ON CONFLICT (local_date, store_id, item_lines, value_band) DO UPDATE SET transactions = r.transactions + EXCLUDED.transactions, sales = r.sales + EXCLUDED.sales
""",
    """
TRUNCATE analytics.rollup_payment_day
""",
    """
INSERT INTO analytics.rollup_payment_day AS r (local_date, store_id, payment_method, transactions, sales, total)
        SELECT t.local_time::date, t.store_id, t.payment_method, count(*), sum(t.subtotal), sum(t.total)
        FROM transactions t
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (local_date, store_id, payment_method) DO UPDATE SET transactions = r.transactions + EXCLUDED.transactions, sales = r.sales + EXCLUDED.sales, total = r.total + EXCLUDED.total
""",
    """
TRUNCATE analytics.rollup_stock_day
""",
    """
INSERT INTO analytics.rollup_stock_day (store_id, sku, local_date, sold, received, closing)
SELECT d.store_id, d.sku, d.local_date, d.sold, d.received,
    coalesce((SELECT sum(m.quantity_delta) FROM inventory_movements m
             WHERE m.reason = 'opening' AND m.store_id = d.store_id AND m.sku = d.sku), 0)
        + sum(d.received - d.sold) OVER (PARTITION BY d.store_id, d.sku ORDER BY d.local_date) AS closing
FROM (
    SELECT store_id, sku, local_date, sum(sold) AS sold, sum(received) AS received FROM (
        SELECT t.store_id, i.sku, t.local_time::date AS local_date, i.quantity AS sold, 0 AS received
        FROM transactions t JOIN items_purchased i USING (transaction_id)
        UNION ALL
        SELECT m.store_id, m.sku, (m.occurred_at AT TIME ZONE s.timezone)::date, 0, m.quantity_delta
        FROM inventory_movements m JOIN stores s USING (store_id) WHERE m.reason = 'restock'
    ) u GROUP BY 1, 2, 3
) d
""",
)

CREATE_VIEWS = (
    """
CREATE OR REPLACE VIEW analytics.daily_store_sales (local_date) AS
SELECT r.local_date AS period, r.store_id, s.name AS store_name, s.province,
    sum(r.transactions) AS transactions, sum(r.item_lines) AS item_lines,
    trunc(sum(r.units))::bigint AS units,
    sum(r.sales) AS sales, sum(r.zero_rated_sales) AS zero_rated_sales,
    sum(r.sales) - sum(r.zero_rated_sales) AS taxable_sales,
    coalesce(sum(x.gst), 0) AS gst, coalesce(sum(x.hst), 0) AS hst, coalesce(sum(x.pst), 0) AS pst, coalesce(sum(x.qst), 0) AS qst, coalesce(sum(x.rst), 0) AS rst,
    sum(r.tax_total) AS tax_total, sum(r.rounding) AS rounding, sum(r.total) AS total,
    round(sum(r.sales) / sum(r.transactions), 2) AS avg_transaction_value,
    round(sum(r.units) / sum(r.transactions), 2) AS units_per_transaction,
    round(sum(r.sales) / nullif(s.floor_area_m2, 0), 2) AS sales_per_m2,
    round(sum(r.member_sales) / nullif(sum(r.sales), 0), 4) AS member_share
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
LEFT JOIN (
    SELECT local_date, store_id, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'GST'), 0) AS gst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'HST'), 0) AS hst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'PST'), 0) AS pst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'QST'), 0) AS qst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'RST'), 0) AS rst FROM analytics.rollup_store_day_tax GROUP BY 1, 2) x USING (local_date, store_id)
WHERE TRUE
GROUP BY 1, r.store_id, s.name, s.province, s.floor_area_m2
""",
    """
CREATE OR REPLACE VIEW analytics.daily_product_sales (local_date) AS
SELECT d.period, d.sku, p.name, p.category, p.unit,
    CASE WHEN p.unit = 'kg' THEN d.units ELSE trunc(d.units) END AS units,
    d.lines, d.sales, d.discount,
    rank() OVER (PARTITION BY d.period, p.category ORDER BY d.sales DESC) AS rank_in_category
FROM (
    SELECT r.local_date AS period, r.sku, sum(r.units) AS units, sum(r.lines) AS lines, sum(r.sales) AS sales,
        sum(r.discount) AS discount
    FROM analytics.rollup_product_day r JOIN stores s USING (store_id)
    WHERE TRUE
    GROUP BY 1, 2
) d JOIN products p USING (sku)
""",
    """
CREATE OR REPLACE VIEW analytics.hourly_traffic AS SELECT r.local_date, r.store_id, s.province, extract(isodow FROM r.local_date)::int AS day_of_week,
            r.local_hour, r.transactions, r.sales
        FROM analytics.rollup_store_hour r JOIN stores s USING (store_id)
""",
    """
CREATE OR REPLACE VIEW analytics.basket_sizes AS SELECT r.local_date, r.store_id, s.province, r.item_lines, r.value_band AS value_from,
            r.value_band + 10 AS value_to, r.transactions, r.sales
        FROM analytics.rollup_basket_day r JOIN stores s USING (store_id)
""",
    """
CREATE OR REPLACE VIEW analytics.payment_mix_monthly (month) AS
SELECT m.period, m.province, m.payment_method, m.transactions, m.value,
    round(m.transactions::numeric / sum(m.transactions) OVER w, 4) AS count_share,
    round(m.value / nullif(sum(m.value) OVER w, 0), 4) AS value_share
FROM (
    SELECT date_trunc('month', r.local_date)::date AS period, s.province, r.payment_method, sum(r.transactions) AS transactions,
        sum(r.total) AS value
    FROM analytics.rollup_payment_day r JOIN stores s USING (store_id)
    WHERE TRUE
    GROUP BY 1, 2, 3
) m
WINDOW w AS (PARTITION BY m.period, m.province)
""",
    """
CREATE OR REPLACE VIEW analytics.promotion_lift AS
WITH flyer AS (
    SELECT DISTINCT r.sku, (r.local_date - mod(extract(isodow FROM r.local_date)::int + 3, 7)) AS week
    FROM analytics.rollup_product_day r WHERE r.promo_lines > 0
),
selected AS (
    SELECT r.local_date, r.sku, r.units, r.sales
    FROM analytics.rollup_product_day r JOIN stores s USING (store_id) WHERE TRUE
),
trading AS (
    SELECT DISTINCT r.local_date, (r.local_date - mod(extract(isodow FROM r.local_date)::int + 3, 7)) AS week
    FROM analytics.rollup_store_day r JOIN stores s USING (store_id) WHERE TRUE
),
grid AS (
    SELECT f.sku, t.local_date, w.sku IS NOT NULL AS on_flyer
    FROM (SELECT DISTINCT sku FROM flyer) f CROSS JOIN trading t
    LEFT JOIN flyer w ON w.sku = f.sku AND w.week = t.week
),
days AS (
    SELECT g.sku, g.local_date, g.on_flyer, coalesce(sum(d.units), 0) AS units,
        coalesce(sum(d.sales), 0) AS sales
    FROM grid g LEFT JOIN selected d USING (sku, local_date)
    GROUP BY 1, 2, 3
),
totals AS (
    SELECT sku,
        count(*) FILTER (WHERE on_flyer) AS flyer_days,
        coalesce(sum(units) FILTER (WHERE on_flyer), 0) AS units_on_flyer,
        coalesce(sum(sales) FILTER (WHERE on_flyer), 0) AS sales_on_flyer,
        count(*) FILTER (WHERE NOT on_flyer) AS off_flyer_days,
        coalesce(sum(units) FILTER (WHERE NOT on_flyer), 0) AS units_off_flyer,
        coalesce(sum(sales) FILTER (WHERE NOT on_flyer), 0) AS sales_off_flyer
    FROM days GROUP BY sku
)
SELECT t.sku, p.name, p.category, t.flyer_days, t.units_on_flyer::numeric(16, 3), t.sales_on_flyer,
    t.off_flyer_days, t.units_off_flyer::numeric(16, 3), t.sales_off_flyer,
    round(t.units_on_flyer / nullif(t.flyer_days, 0), 3) AS units_per_day_on_flyer,
    round(t.units_off_flyer / nullif(t.off_flyer_days, 0), 3) AS units_per_day_off_flyer,
    round((t.units_on_flyer * t.off_flyer_days) / nullif(t.units_off_flyer * t.flyer_days, 0), 2) AS lift
FROM totals t JOIN products p USING (sku)
WHERE t.flyer_days > 0
""",
    """
CREATE OR REPLACE VIEW analytics.stock_cover AS
SELECT r.store_id, s.province, r.sku, p.name, p.category, p.unit, r.on_hand,
    coalesce(recent.units, 0)::numeric(16, 3) AS units_sold_recently,
    round(coalesce(recent.units, 0) / 7, 3) AS units_per_day,
    round(r.on_hand * 7 / nullif(recent.units, 0), 1) AS days_of_cover,
    r.on_hand <= 0 AS out_of_stock
FROM inventory r JOIN stores s USING (store_id) JOIN products p USING (sku)
LEFT JOIN (
    SELECT d.store_id, d.sku, sum(d.units) AS units FROM analytics.rollup_product_day d
    WHERE d.local_date > (SELECT max(local_date) FROM analytics.rollup_store_day) - 7 AND d.local_date <= (SELECT max(local_date) FROM analytics.rollup_store_day)
    GROUP BY 1, 2
) recent USING (store_id, sku)
WHERE TRUE
""",
    """
CREATE OR REPLACE VIEW analytics.stockouts_now AS
SELECT r.store_id, s.name AS store_name, s.province, count(*) AS skus,
    count(*) FILTER (WHERE r.on_hand <= 0) AS skus_out_of_stock
FROM inventory r JOIN stores s USING (store_id)
WHERE TRUE
GROUP BY 1, 2, 3
""",
    """
CREATE OR REPLACE VIEW analytics.stockout_events AS
SELECT r.store_id, r.sku, r.local_date, r.closing FROM analytics.rollup_stock_day r WHERE r.closing <= 0 AND r.closing - r.received + r.sold > 0
""",
    """
CREATE OR REPLACE VIEW analytics.tax_return_monthly (month) AS
SELECT date_trunc('month', r.local_date)::date AS period, s.province, sum(r.transactions) AS transactions,
    sum(r.sales) AS sales, sum(r.zero_rated_sales) AS zero_rated_sales,
    sum(r.sales) - sum(r.zero_rated_sales) AS taxable_sales,
    coalesce(sum(x.gst), 0) + coalesce(sum(x.hst), 0) AS gst_hst_collected,
    coalesce(sum(x.pst), 0) + coalesce(sum(x.qst), 0) + coalesce(sum(x.rst), 0) AS provincial_tax_collected,
    coalesce(sum(x.gst), 0) AS gst, coalesce(sum(x.hst), 0) AS hst, coalesce(sum(x.pst), 0) AS pst, coalesce(sum(x.qst), 0) AS qst, coalesce(sum(x.rst), 0) AS rst,
    sum(r.rounding) AS rounding
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
LEFT JOIN (
    SELECT local_date, store_id, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'GST'), 0) AS gst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'HST'), 0) AS hst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'PST'), 0) AS pst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'QST'), 0) AS qst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'RST'), 0) AS rst FROM analytics.rollup_store_day_tax GROUP BY 1, 2) x USING (local_date, store_id)
WHERE TRUE
GROUP BY 1, s.province
""",
    """
CREATE OR REPLACE VIEW analytics.tax_return_quarterly (quarter) AS
SELECT date_trunc('quarter', r.local_date)::date AS period, s.province, sum(r.transactions) AS transactions,
    sum(r.sales) AS sales, sum(r.zero_rated_sales) AS zero_rated_sales,
    sum(r.sales) - sum(r.zero_rated_sales) AS taxable_sales,
    coalesce(sum(x.gst), 0) + coalesce(sum(x.hst), 0) AS gst_hst_collected,
    coalesce(sum(x.pst), 0) + coalesce(sum(x.qst), 0) + coalesce(sum(x.rst), 0) AS provincial_tax_collected,
    coalesce(sum(x.gst), 0) AS gst, coalesce(sum(x.hst), 0) AS hst, coalesce(sum(x.pst), 0) AS pst, coalesce(sum(x.qst), 0) AS qst, coalesce(sum(x.rst), 0) AS rst,
    sum(r.rounding) AS rounding
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
LEFT JOIN (
    SELECT local_date, store_id, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'GST'), 0) AS gst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'HST'), 0) AS hst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'PST'), 0) AS pst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'QST'), 0) AS qst, coalesce(sum(tax_amount) FILTER (WHERE tax_code = 'RST'), 0) AS rst FROM analytics.rollup_store_day_tax GROUP BY 1, 2) x USING (local_date, store_id)
WHERE TRUE
GROUP BY 1, s.province
""",
)
