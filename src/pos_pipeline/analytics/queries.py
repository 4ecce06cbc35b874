"""The SQL of every report, written once: ``pos report`` fills in a period and filters, the
``analytics`` views (:mod:`pos_pipeline.analytics.views`) fill in a day or a month and no filter.

Every query reads the rollup tables (alias ``r``, with ``local_date`` and ``store_id``) joined to
``stores`` (alias ``s``), so ``{where}`` can filter on ``r.local_date``, ``r.store_id`` and
``s.province``. ``{period}`` is an SQL expression of ``r.local_date``.
"""

from __future__ import annotations

from pos_pipeline.analytics import stock
from pos_pipeline.analytics.rollups import VALUE_BAND_DOLLARS

TAX_CODES = ("GST", "HST", "PST", "QST", "RST")
GST_HST = ("GST", "HST")
PROVINCIAL = ("PST", "QST", "RST")
THURSDAY = 4  # ISO day of week: the chain's flyer runs Thursday to Wednesday
RECENT_DAYS = 7  # the sales rate behind days of cover
# Recent means recent in the warehouse's history, not by the wall clock: a backfill reads sensibly.
LATEST_DAY = "(SELECT max(local_date) FROM analytics.rollup_store_day)"

_TAX_PIVOT = ", ".join(
    f"coalesce(sum(tax_amount) FILTER (WHERE tax_code = '{code}'), 0) AS {code.lower()}" for code in TAX_CODES
)
_TAXES_BY_STORE_DAY = f"""
    SELECT local_date, store_id, {_TAX_PIVOT} FROM analytics.rollup_store_day_tax GROUP BY 1, 2"""


def _sum_of(codes: tuple[str, ...], table: str = "x") -> str:
    return " + ".join(f"coalesce(sum({table}.{code.lower()}), 0)" for code in codes)


TAXES_COLLECTED = """
SELECT {period} AS period, s.province, r.tax_code, sum(r.tax_amount) AS amount
FROM analytics.rollup_store_day_tax r JOIN stores s USING (store_id)
WHERE {where}
GROUP BY 1, 2, 3
"""

SALES = f"""
SELECT {{period}} AS period, r.store_id, s.name AS store_name, s.province,
    sum(r.transactions) AS transactions, sum(r.item_lines) AS item_lines,
    trunc(sum(r.units))::bigint AS units,
    sum(r.sales) AS sales, sum(r.zero_rated_sales) AS zero_rated_sales,
    sum(r.sales) - sum(r.zero_rated_sales) AS taxable_sales,
    {", ".join(f"coalesce(sum(x.{c.lower()}), 0) AS {c.lower()}" for c in TAX_CODES)},
    sum(r.tax_total) AS tax_total, sum(r.rounding) AS rounding, sum(r.total) AS total,
    round(sum(r.sales) / sum(r.transactions), 2) AS avg_transaction_value,
    round(sum(r.units) / sum(r.transactions), 2) AS units_per_transaction,
    round(sum(r.sales) / nullif(s.floor_area_m2, 0), 2) AS sales_per_m2,
    round(sum(r.member_sales) / nullif(sum(r.sales), 0), 4) AS member_share
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
LEFT JOIN ({_TAXES_BY_STORE_DAY}) x USING (local_date, store_id)
WHERE {{where}}
GROUP BY 1, r.store_id, s.name, s.province, s.floor_area_m2
"""

TAX_RETURN = f"""
SELECT {{period}} AS period, s.province, sum(r.transactions) AS transactions,
    sum(r.sales) AS sales, sum(r.zero_rated_sales) AS zero_rated_sales,
    sum(r.sales) - sum(r.zero_rated_sales) AS taxable_sales,
    {_sum_of(GST_HST)} AS gst_hst_collected,
    {_sum_of(PROVINCIAL)} AS provincial_tax_collected,
    {", ".join(f"coalesce(sum(x.{c.lower()}), 0) AS {c.lower()}" for c in TAX_CODES)},
    sum(r.rounding) AS rounding
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
LEFT JOIN ({_TAXES_BY_STORE_DAY}) x USING (local_date, store_id)
WHERE {{where}}
GROUP BY 1, s.province
"""

PAYMENTS = """
SELECT m.period, m.province, m.payment_method, m.transactions, m.value,
    round(m.transactions::numeric / sum(m.transactions) OVER w, 4) AS count_share,
    round(m.value / nullif(sum(m.value) OVER w, 0), 4) AS value_share
FROM (
    SELECT {period} AS period, s.province, r.payment_method, sum(r.transactions) AS transactions,
        sum(r.total) AS value
    FROM analytics.rollup_payment_day r JOIN stores s USING (store_id)
    WHERE {where}
    GROUP BY 1, 2, 3
) m
WINDOW w AS (PARTITION BY m.period, m.province)
"""

PRODUCTS = """
SELECT d.period, d.sku, p.name, p.category, p.unit,
    CASE WHEN p.unit = 'kg' THEN d.units ELSE trunc(d.units) END AS units,
    d.lines, d.sales, d.discount,
    rank() OVER (PARTITION BY d.period, p.category ORDER BY d.sales DESC) AS rank_in_category
FROM (
    SELECT {period} AS period, r.sku, sum(r.units) AS units, sum(r.lines) AS lines, sum(r.sales) AS sales,
        sum(r.discount) AS discount
    FROM analytics.rollup_product_day r JOIN stores s USING (store_id)
    WHERE {where}
    GROUP BY 1, 2
) d JOIN products p USING (sku)
"""

TRAFFIC = """
SELECT extract(isodow FROM r.local_date)::int AS day_of_week, r.local_hour AS hour,
    sum(r.transactions) AS transactions, sum(r.sales) AS sales
FROM analytics.rollup_store_hour r JOIN stores s USING (store_id)
WHERE {where}
GROUP BY 1, 2
"""

BASKET_LINES = """
SELECT r.item_lines, sum(r.transactions) AS transactions, sum(r.sales) AS sales
FROM analytics.rollup_basket_day r JOIN stores s USING (store_id)
WHERE {where}
GROUP BY 1
"""

BASKET_VALUES = f"""
SELECT r.value_band AS value_from, r.value_band + {VALUE_BAND_DOLLARS} AS value_to,
    sum(r.transactions) AS transactions, sum(r.sales) AS sales
FROM analytics.rollup_basket_day r JOIN stores s USING (store_id)
WHERE {{where}}
GROUP BY 1
"""

# A SKU is on the flyer for a whole Thursday-to-Wednesday week when any store sold it at a
# discount that week (the flyer is the chain's); its lift compares units a trading day on the
# flyer with units a trading day off it, over the trading days of the selection. Everything is
# summed by flyer week first, so the work stays small whatever the planner guesses.
_FLYER_WEEK = f"(r.local_date - mod(extract(isodow FROM r.local_date)::int + {7 - THURSDAY}, 7))"
PROMOTIONS = f"""
WITH flyer AS (
    SELECT DISTINCT r.sku, {_FLYER_WEEK} AS week
    FROM analytics.rollup_product_day r WHERE r.promo_lines > 0
),
trading AS (
    SELECT {_FLYER_WEEK} AS week, count(DISTINCT r.local_date) AS days
    FROM analytics.rollup_store_day r JOIN stores s USING (store_id) WHERE {{where}}
    GROUP BY 1
),
sold AS (
    SELECT r.sku, {_FLYER_WEEK} AS week, sum(r.units) AS units, sum(r.sales) AS sales
    FROM analytics.rollup_product_day r JOIN stores s USING (store_id) WHERE {{where}}
    GROUP BY 1, 2
),
split AS (
    SELECT d.sku,
        sum(d.units) FILTER (WHERE f.sku IS NOT NULL) AS units_on,
        sum(d.sales) FILTER (WHERE f.sku IS NOT NULL) AS sales_on,
        sum(d.units) FILTER (WHERE f.sku IS NULL) AS units_off,
        sum(d.sales) FILTER (WHERE f.sku IS NULL) AS sales_off
    FROM sold d LEFT JOIN flyer f USING (sku, week)
    GROUP BY 1
),
totals AS (
    SELECT f.sku, sum(t.days) AS flyer_days,
        (SELECT sum(days) FROM trading) - sum(t.days) AS off_flyer_days,
        coalesce(max(x.units_on), 0) AS units_on_flyer, coalesce(max(x.sales_on), 0) AS sales_on_flyer,
        coalesce(max(x.units_off), 0) AS units_off_flyer, coalesce(max(x.sales_off), 0) AS sales_off_flyer
    FROM flyer f JOIN trading t USING (week) LEFT JOIN split x USING (sku)
    GROUP BY f.sku
)
SELECT t.sku, p.name, p.category, t.flyer_days::int, t.units_on_flyer::numeric(16, 3), t.sales_on_flyer,
    t.off_flyer_days::int, t.units_off_flyer::numeric(16, 3), t.sales_off_flyer,
    round(t.units_on_flyer / nullif(t.flyer_days, 0), 3) AS units_per_day_on_flyer,
    round(t.units_off_flyer / nullif(t.off_flyer_days, 0), 3) AS units_per_day_off_flyer,
    round((t.units_on_flyer * t.off_flyer_days) / nullif(t.units_off_flyer * t.flyer_days, 0), 2) AS lift
FROM totals t JOIN products p USING (sku)
WHERE t.flyer_days > 0
"""

# Days of cover: stock on hand now over the units sold a day in the RECENT_DAYS store-local days
# ending {as_of} (the latest day with sales).
STOCK = f"""
SELECT r.store_id, s.province, r.sku, p.name, p.category, p.unit, r.on_hand,
    coalesce(recent.units, 0)::numeric(16, 3) AS units_sold_recently,
    round(coalesce(recent.units, 0) / {RECENT_DAYS}, 3) AS units_per_day,
    round(r.on_hand * {RECENT_DAYS} / nullif(recent.units, 0), 1) AS days_of_cover,
    r.on_hand <= 0 AS out_of_stock
FROM inventory r JOIN stores s USING (store_id) JOIN products p USING (sku)
LEFT JOIN (
    SELECT d.store_id, d.sku, sum(d.units) AS units FROM analytics.rollup_product_day d
    WHERE d.local_date > {{as_of}} - {RECENT_DAYS} AND d.local_date <= {{as_of}}
    GROUP BY 1, 2
) recent USING (store_id, sku)
WHERE {{where}}
"""

OUT_OF_STOCK = """
SELECT r.store_id, s.name AS store_name, s.province, count(*) AS skus,
    count(*) FILTER (WHERE r.on_hand <= 0) AS skus_out_of_stock
FROM inventory r JOIN stores s USING (store_id)
WHERE {where}
GROUP BY 1, 2, 3
"""

# A stock-out event: a store-local day that closed with a SKU sold out (see analytics.stock).
STOCKOUT_EVENTS = f"""
SELECT r.store_id, r.sku, r.local_date, r.closing FROM analytics.rollup_stock_day r WHERE {stock.EVENT}
"""

STOCKOUTS = f"""
SELECT {{period}} AS period, r.store_id, s.name AS store_name, s.province, count(*) AS stockout_events,
    count(DISTINCT r.sku) AS skus
FROM analytics.rollup_stock_day r JOIN stores s USING (store_id)
WHERE {stock.EVENT} AND {{where}}
GROUP BY 1, 2, 3, 4
"""
