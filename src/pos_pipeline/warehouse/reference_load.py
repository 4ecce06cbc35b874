"""Loading the shipped reference data into the warehouse, idempotently.

Each table is staged with COPY and merged with ``INSERT … ON CONFLICT``, so a
second ``pos db init`` changes nothing and a newer package adds what it ships.
Opening stock is written once per (store, SKU), as an ``opening`` movement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from pos_pipeline.reference.calendar import date_rows
from pos_pipeline.reference.catalogue import payment_options, products, stores
from pos_pipeline.reference.customers import customer_profiles
from pos_pipeline.reference.inventory import opening_stock
from pos_pipeline.reference.tax import tax_table

OPENING_AT = datetime(2016, 1, 1, tzinfo=UTC)

_CUSTOMER_COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
    "province",
    "postal_code",
    "home_store_id",
    "loyalty_since",
)


def merge_rows(
    cur: psycopg.Cursor[tuple[object, ...]],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    conflict: Sequence[str],
    update: bool = True,
) -> int:
    """COPY rows into a staging table and merge them into ``table``; return rows written."""
    stage = sql.Identifier(f"stage_{table}")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            stage, sql.Identifier(table)
        )
    )
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
        for row in rows:
            copy.write_row(row)
    keys = sql.SQL(", ").join(map(sql.Identifier, conflict))
    action: sql.Composable
    if update:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c not in conflict
        )
        action = sql.SQL("DO UPDATE SET {}").format(sets)
    else:
        action = sql.SQL("DO NOTHING")
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            sql.Identifier(table), cols, cols, stage, keys, action
        )
    )
    return cur.rowcount


def load_reference_data(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Merge every reference table and open stock for new (store, SKU) pairs; return row counts."""
    written: dict[str, int] = {}
    with conn.cursor() as cur:
        written["stores"] = merge_rows(
            cur,
            "stores",
            (
                "store_id",
                "name",
                "address",
                "city",
                "province",
                "postal_code",
                "timezone",
                "latitude",
                "longitude",
                "floor_area_m2",
                "opens",
                "closes",
            ),
            (astuple(s) for s in stores()),
            ("store_id",),
        )
        written["products"] = merge_rows(
            cur,
            "products",
            ("sku", "name", "category", "unit", "unit_price", "tax_class", "popularity"),
            (
                (p.sku, p.name, p.category, p.unit, p.unit_price, p.tax_class, p.popularity)
                for p in products()
            ),
            ("sku",),
        )
        written["payment_options"] = merge_rows(
            cur,
            "payment_options",
            ("payment_method", "name", "kind", "settles_to_cent", "description"),
            (astuple(o) for o in payment_options()),
            ("payment_method",),
        )
        written["tax_rates"] = merge_rows(
            cur,
            "tax_rates",
            ("province", "tax_code", "rate", "effective_from", "effective_to", "source"),
            (
                (r.province, r.code, r.rate, r.effective_from, r.effective_to, r.source)
                for r in tax_table().rates
            ),
            ("province", "tax_code", "effective_from"),
        )
        written["dates"] = merge_rows(
            cur,
            "dates",
            (
                "date_key",
                "date",
                "day_of_week",
                "day_name",
                "month",
                "month_name",
                "quarter",
                "year",
                "is_weekend",
                "holiday_name",
            ),
            (astuple(d) for d in date_rows()),
            ("date_key",),
            update=False,
        )
        cur.execute("SELECT count(*) FROM customers")
        row = cur.fetchone()
        if row is None or row[0] == 0:
            written["customers"] = merge_rows(
                cur,
                "customers",
                _CUSTOMER_COLUMNS,
                ([c[k] for k in _CUSTOMER_COLUMNS] for c in customer_profiles()),
                ("customer_id",),
                update=False,
            )
        written["inventory"] = _open_stock(cur)
    return written


def _open_stock(cur: psycopg.Cursor[tuple[object, ...]]) -> int:
    cur.execute(
        "CREATE TEMP TABLE stage_opening (store_id text, sku text, on_hand numeric, "
        "reorder_point numeric) ON COMMIT DROP"
    )
    with cur.copy("COPY stage_opening FROM STDIN") as copy:
        for store in stores():
            for product in products():
                stock = opening_stock(store, product)
                copy.write_row(
                    (
                        store.store_id,
                        product.sku,
                        Decimal(stock.on_hand_millis) / 1000,
                        Decimal(stock.reorder_point_millis) / 1000,
                    )
                )
    cur.execute(
        """
        WITH opened AS (
            INSERT INTO inventory (store_id, sku, on_hand, reorder_point)
            SELECT store_id, sku, on_hand, reorder_point FROM stage_opening
            ORDER BY store_id, sku
            ON CONFLICT (store_id, sku) DO NOTHING
            RETURNING store_id, sku, on_hand
        )
        INSERT INTO inventory_movements (store_id, sku, quantity_delta, reason, occurred_at)
        SELECT store_id, sku, on_hand, 'opening', %s FROM opened
        """,
        (OPENING_AT,),
    )
    return cur.rowcount
