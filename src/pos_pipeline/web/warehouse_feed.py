"""What the dashboard reads from the warehouse, in one read-only snapshot a second.

Every query is cheap whatever the warehouse's size: totals and the day's figures come from the
analytics rollups, the latest receipts from the per-store index on ``occurred_at``, and "loaded in
the last minute" from the BRIN index on ``ingested_at`` (migration 0005), which reads only the tail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from pos_pipeline.simulate.run import HEAD_OFFICE_ZONE

RATE_WINDOW_S = 10
FRESHNESS_WINDOW_S = 60
RECEIPTS = 12
TOP_PRODUCTS = 10
LOW_STOCK = 10

TOTAL = "SELECT coalesce(sum(transactions), 0) FROM analytics.rollup_store_day"
# One backward index probe per store: the latest receipt loaded, i.e. the simulated clock.
CLOCK = """
SELECT max(latest) FROM stores s
CROSS JOIN LATERAL (SELECT max(t.occurred_at) AS latest FROM transactions t WHERE t.store_id = s.store_id) x
"""
TODAY = "SELECT max(local_date) FROM analytics.rollup_store_day"
RECENT = f"""
SELECT count(*) FILTER (WHERE ingested_at > statement_timestamp() - interval '{RATE_WINDOW_S} seconds'),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - published_at)),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - published_at))
FROM transactions
WHERE ingested_at > statement_timestamp() - interval '{FRESHNESS_WINDOW_S} seconds'
"""
PROVINCES = """
SELECT s.province, sum(r.transactions), sum(r.sales)
FROM analytics.rollup_store_day r JOIN stores s USING (store_id)
WHERE r.local_date = %s GROUP BY 1 ORDER BY 3 DESC, 1
"""
HOURLY = """
SELECT r.local_date, r.local_hour, sum(r.sales)
FROM analytics.rollup_store_hour r WHERE r.local_date IN (%s, %s) GROUP BY 1, 2
"""
PRODUCTS = f"""
SELECT r.sku, p.name, p.category,
    CASE WHEN p.unit = 'kg' THEN sum(r.units) ELSE trunc(sum(r.units)) END, sum(r.sales)
FROM analytics.rollup_product_day r JOIN products p USING (sku)
WHERE r.local_date = %s GROUP BY 1, 2, 3, p.unit ORDER BY 5 DESC, 1 LIMIT {TOP_PRODUCTS}
"""
LATEST = f"""
SELECT t.transaction_id, t.occurred_at, t.local_time, t.store_id, s.name, s.province, t.total,
    t.payment_method, (SELECT count(*) FROM items_purchased i WHERE i.transaction_id = t.transaction_id)
FROM stores s
CROSS JOIN LATERAL (
    SELECT * FROM transactions t WHERE t.store_id = s.store_id ORDER BY t.occurred_at DESC LIMIT {RECEIPTS}
) t
ORDER BY t.occurred_at DESC, t.transaction_id LIMIT {RECEIPTS}
"""
STOCK_COUNTS = """
SELECT count(*) FILTER (WHERE on_hand <= reorder_point), count(*) FILTER (WHERE on_hand <= 0) FROM inventory
"""
LOW = f"""
SELECT i.store_id, s.name, s.province, i.sku, p.name,
    CASE WHEN p.unit = 'kg' THEN i.on_hand ELSE trunc(i.on_hand) END,
    CASE WHEN p.unit = 'kg' THEN i.reorder_point ELSE trunc(i.reorder_point) END
FROM inventory i JOIN stores s USING (store_id) JOIN products p USING (sku)
WHERE i.on_hand <= i.reorder_point
ORDER BY i.on_hand / nullif(i.reorder_point, 0), i.on_hand, i.store_id, i.sku LIMIT {LOW_STOCK}
"""


def money(value: object) -> str:
    """An exact amount as a two-decimal string (never a float)."""
    return f"{Decimal(str(value if value is not None else 0)):.2f}"


def quantity(value: object) -> str:
    """A quantity as its exact decimal text, without trailing zeros after the point."""
    text = str(Decimal(str(value)))
    return text.rstrip("0").rstrip(".") if "." in text else text


def read_warehouse(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[str, Any]:
    """Every figure the page shows from the warehouse, in one REPEATABLE READ, READ ONLY snapshot."""
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute(TOTAL)
        total = int(_one(cur)[0])
        cur.execute(CLOCK)
        latest: datetime | None = _one(cur)[0]
        cur.execute(RECENT)
        recent, p50, p99 = _one(cur)
        found: dict[str, Any] = {
            "transactions": total,
            "per_second": round(int(recent) / RATE_WINDOW_S, 1),
            "freshness_p50_s": None if p50 is None else round(float(p50), 4),
            "freshness_p99_s": None if p99 is None else round(float(p99), 4),
        }
        # The day being traded: the newest store-local date with sales (the west is still on
        # yesterday after midnight in the east, and the east opens first).
        cur.execute(TODAY)
        today: date | None = _one(cur)[0]
        found["clock"] = _clock(latest, today)
        found.update(_day(cur, today))
        cur.execute(LATEST)
        found["receipts"] = [
            {
                "transaction_id": str(r[0]),
                "occurred_at": r[1].astimezone(HEAD_OFFICE_ZONE).isoformat(timespec="milliseconds"),
                "local_time": r[2].strftime("%H:%M:%S"),
                "store_id": r[3],
                "store_name": r[4],
                "province": r[5],
                "total": money(r[6]),
                "payment_method": r[7],
                "items": int(r[8]),
            }
            for r in cur.fetchall()
        ]
        found["low_stock"] = _low_stock(cur)
    conn.rollback()
    return found


def _one(cur: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None
    return row


def _clock(latest: datetime | None, today: date | None) -> dict[str, Any]:
    return {
        "at": None if latest is None else latest.astimezone(HEAD_OFFICE_ZONE).isoformat(timespec="seconds"),
        "today": None if today is None else today.isoformat(),
        "week_before": None if today is None else (today - timedelta(days=7)).isoformat(),
    }


def _day(cur: psycopg.Cursor[tuple[Any, ...]], today: date | None) -> dict[str, Any]:
    """The simulated day's sales by province, by hour against a week before, and top products."""
    hours = list(range(24))
    if today is None:
        zeros = [money(0)] * 24
        return {
            "sales_by_province": [],
            "hourly": {"hours": hours, "today": zeros, "week_before": zeros},
            "top_products": [],
        }
    cur.execute(PROVINCES, (today,))
    provinces = [{"province": r[0], "transactions": int(r[1]), "sales": money(r[2])} for r in cur.fetchall()]
    before = today - timedelta(days=7)
    cur.execute(HOURLY, (today, before))
    by_hour = {(r[0], int(r[1])): r[2] for r in cur.fetchall()}
    cur.execute(PRODUCTS, (today,))
    products = [
        {"sku": r[0], "name": r[1], "category": r[2], "units": quantity(r[3]), "sales": money(r[4])}
        for r in cur.fetchall()
    ]
    return {
        "sales_by_province": provinces,
        "hourly": {
            "hours": hours,
            "today": [money(by_hour.get((today, h))) for h in hours],
            "week_before": [money(by_hour.get((before, h))) for h in hours],
        },
        "top_products": products,
    }


def _low_stock(cur: psycopg.Cursor[tuple[Any, ...]]) -> dict[str, Any]:
    cur.execute(STOCK_COUNTS)
    below, out = _one(cur)
    cur.execute(LOW)
    items = [
        {
            "store_id": r[0],
            "store_name": r[1],
            "province": r[2],
            "sku": r[3],
            "name": r[4],
            "on_hand": quantity(r[5]),
            "reorder_point": quantity(r[6]),
        }
        for r in cur.fetchall()
    ]
    return {"below_reorder": int(below), "out_of_stock": int(out), "items": items}


def generated_at() -> str:
    """Now, for the snapshot's stamp."""
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds")
