"""Each store's stock of each SKU at the end of every store-local day it moved, kept by the loader.

``analytics.rollup_stock_day`` holds, per (store, SKU, local day): units ``sold`` and
``received`` (additive, like every rollup) and the ``closing`` stock: the opening stock plus all
deliveries less all sales up to that day. A stock-out event is a day that closed with nothing on
hand after a day (or the opening) that did not; reports read the days of their range (a BRIN index
on ``local_date``: an index involving ``closing`` would make every update of a row non-HOT).

Each batch stages its new movements in ``stage_stock_moves``; :data:`MOVES` writes them
with their ``closing``. Streams arrive nearly in time order, so for almost every (store, SKU) the
batch's days are on or after the pair's latest day, and each one's closing is that day's base plus
the batch's moves so far, written in the same upsert. A late delivery or sale (before the pair's
latest day) re-settles the later days of its pair, and the result is the same in any order.
``pos check`` recomputes every row from the facts (``MISMATCH``).

Two consumers of one group may hold a store's sales and its deliveries (two topics). They do not
race or deadlock here because, earlier in the same database transaction, each has already locked
the ``inventory`` rows of every (store, SKU) it moves, in key order: the second waits there, and
then reads the first one's committed rows when it settles. Keep :data:`MOVES` after the
inventory updates.
"""

from __future__ import annotations

import psycopg

STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_stock_moves (
    store_id text, sku text, local_date date, sold numeric, received numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_stock_bases (
    store_id text, sku text, since date, last_date date, base numeric
) ON COMMIT DELETE ROWS;
"""

# From the batch's rows of the product-day rollup: units sold per (store, SKU, local day).
SALES = """
INSERT INTO stage_stock_moves
SELECT store_id, sku, local_date, sum(units), 0 FROM {product_day} GROUP BY 1, 2, 3
"""

# Deliveries are dated in the store's time zone, like the sales on its tills.
RESTOCKS = """
INSERT INTO stage_stock_moves
SELECT r.store_id, l.sku, (r.occurred_at AT TIME ZONE s.timezone)::date, 0, sum(l.quantity)
FROM {restocks} r JOIN {lines} l USING (event_id) JOIN stores s USING (store_id)
GROUP BY 1, 2, 3
"""

_OPENING = """(SELECT sum(m.quantity_delta) FROM inventory_movements m
             WHERE m.reason = 'opening' AND m.store_id = {pair}.store_id AND m.sku = {pair}.sku)"""

# Per moved (store, SKU): its earliest moved day, and its latest day already in the table with
# that day's closing (or, for a pair not yet in the table, its opening stock).
_BASES = f"""
INSERT INTO stage_stock_bases (store_id, sku, since, last_date, base)
SELECT a.store_id, a.sku, a.since, l.local_date, coalesce(l.closing, {_OPENING.format(pair="a")}, 0)
FROM (SELECT store_id, sku, min(local_date) AS since FROM stage_stock_moves GROUP BY 1, 2) a
LEFT JOIN LATERAL (
    SELECT p.local_date, p.closing FROM analytics.rollup_stock_day p
    WHERE p.store_id = a.store_id AND p.sku = a.sku
    ORDER BY p.local_date DESC LIMIT 1
) l ON true
"""

# The moves in time order (a pair's batch days all on or after its latest day), the common case:
# each moved day closes at the base plus the batch's net moves up to that day, written with the
# moves themselves. A pair moved before its latest day gets a placeholder here and is settled next.
_ADD = """
INSERT INTO analytics.rollup_stock_day AS r (store_id, sku, local_date, sold, received, closing)
SELECT m.store_id, m.sku, m.local_date, m.sold, m.received,
    b.base + sum(m.received - m.sold) OVER (PARTITION BY m.store_id, m.sku ORDER BY m.local_date)
FROM (
    SELECT store_id, sku, local_date, sum(sold) AS sold, sum(received) AS received
    FROM stage_stock_moves GROUP BY 1, 2, 3
) m JOIN stage_stock_bases b USING (store_id, sku)
ORDER BY 1, 2, 3
ON CONFLICT (store_id, sku, local_date) DO UPDATE
    SET sold = r.sold + EXCLUDED.sold, received = r.received + EXCLUDED.received,
        closing = EXCLUDED.closing
"""

# A late delivery or sale (before the pair's latest day) changes every later day's closing:
# those pairs are recomputed from the day before their earliest move onwards.
_SETTLE = f"""
WITH moved AS (
    SELECT store_id, sku, since FROM stage_stock_bases WHERE since < last_date
),
settled AS (
    SELECT r.store_id, r.sku, r.local_date,
        base.closing + sum(r.received - r.sold) OVER (
            PARTITION BY r.store_id, r.sku ORDER BY r.local_date) AS closing
    FROM moved a
    CROSS JOIN LATERAL (
        SELECT coalesce(
            (SELECT p.closing FROM analytics.rollup_stock_day p
             WHERE p.store_id = a.store_id AND p.sku = a.sku AND p.local_date < a.since
             ORDER BY p.local_date DESC LIMIT 1),
            {_OPENING.format(pair="a")},
            0) AS closing
    ) base
    JOIN analytics.rollup_stock_day r
        ON r.store_id = a.store_id AND r.sku = a.sku AND r.local_date >= a.since
)
UPDATE analytics.rollup_stock_day r SET closing = s.closing
FROM settled s
WHERE (r.store_id, r.sku, r.local_date) = (s.store_id, s.sku, s.local_date) AND r.closing <> s.closing
"""

# The same rows recomputed from the facts: opening and restock movements, and the item lines.
FROM_FACTS = f"""
SELECT d.store_id, d.sku, d.local_date, d.sold, d.received,
    coalesce({_OPENING.format(pair="d")}, 0)
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
"""

TABLE = "analytics.rollup_stock_day"

MISMATCH = f"""
SELECT count(*) FROM {TABLE} r FULL JOIN ({FROM_FACTS}) f USING (store_id, sku, local_date)
WHERE r.sold IS DISTINCT FROM f.sold OR r.received IS DISTINCT FROM f.received
    OR r.closing IS DISTINCT FROM f.closing
"""

REBUILD = (
    f"TRUNCATE {TABLE}",
    f"INSERT INTO {TABLE} (store_id, sku, local_date, sold, received, closing) {FROM_FACTS}",
)

# A day that closed with nothing on hand after a day (or the opening) that did not.
EVENT = "r.closing <= 0 AND r.closing - r.received + r.sold > 0"


def prepare(cur: psycopg.Cursor[tuple[object, ...]]) -> None:
    """Create this connection's staging table (kept for the session, emptied at commit)."""
    cur.execute(STAGING)


def sales_statement(product_day: str) -> str:
    """SQL that stages the units sold by the (new) checkouts, from their product-day rollup rows."""
    return SALES.format(product_day=product_day)


def stage_restocks(cur: psycopg.Cursor[tuple[object, ...]], restocks: str, lines: str) -> None:
    """Stage the units received by the (new) deliveries in ``restocks``/``lines``."""
    cur.execute(RESTOCKS.format(restocks=restocks, lines=lines))


#: Adds the staged movements and settles the closing stock of every pair they touched; keep it
#: after the inventory updates of the batch (see the module's docstring).
MOVES = (_BASES, _ADD, _SETTLE)


def mismatches(cur: psycopg.Cursor[tuple[object, ...]]) -> int:
    """Rows of the table that differ from their recomputation from the facts (0 when exact)."""
    cur.execute(MISMATCH)
    row = cur.fetchone()
    return int(str(row[0])) if row else 0
