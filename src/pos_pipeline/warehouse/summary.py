"""Read-only summaries of the warehouse, for the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import psycopg

TABLES = (
    "transactions",
    "items_purchased",
    "transaction_taxes",
    "inventory",
    "inventory_movements",
    "dates",
    "stores",
    "payment_options",
    "tax_rates",
    "customers",
    "products",
    "analytics.rollup_store_day",
    "analytics.rollup_product_day",
)


@dataclass(frozen=True, slots=True)
class ProvinceSales:
    """Revenue and tax collected in one province."""

    province: str
    transactions: int
    revenue: Decimal
    tax: Decimal


def table_counts(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Row count of every warehouse table."""
    counts = {}
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            row = cur.fetchone()
            counts[table] = int(str(row[0])) if row else 0
    return counts


def sales_by_province(conn: psycopg.Connection[tuple[object, ...]]) -> list[ProvinceSales]:
    """Transactions, revenue before tax and tax collected, per province."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT s.province, count(*), coalesce(sum(t.subtotal), 0), coalesce(sum(t.tax_total), 0) "
            "FROM transactions t JOIN stores s USING (store_id) GROUP BY s.province ORDER BY 3 DESC"
        )
        return [
            ProvinceSales(str(r[0]), int(str(r[1])), Decimal(str(r[2])), Decimal(str(r[3])))
            for r in cur.fetchall()
        ]
