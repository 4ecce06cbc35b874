"""Each rollup defined once, as an aggregate over checkouts, and applied two ways.

A definition reads relations named by placeholders: ``{tx}`` (rows shaped like
``transactions``), ``{taxes}`` (like ``transaction_taxes``), ``{lines}`` (item lines with their
transaction's ``store_id`` and ``local_date``) and ``{tx_lines}`` (per transaction: its item lines,
units and zero-rated sales, :data:`LINES_PER_TRANSACTION`). The loader applies it to the batch's
new transactions and adds the result to the rollup table in the batch's own database transaction
(:func:`batch_statements`);
``pos check`` applies it to the whole fact tables and compares (:func:`mismatches`); a
migration fills the tables from the facts (:func:`rebuild`). Sums and counts add up exactly,
so the incremental table equals the recomputation whatever the batches were.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pos_pipeline.analytics import stock

VALUE_BAND_DOLLARS = 10


@dataclass(frozen=True, slots=True)
class Rollup:
    """A rollup table: its key columns, its additive measures, and the SELECT that computes them."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[str, ...]
    select: str

    def compute(self, relations: Relations) -> str:
        """The SELECT over the given relations, in key order."""
        return self.select.format(**relations)

    def upsert(self, relations: Relations) -> str:
        """INSERT the computed rows, adding to the rows already there."""
        return self.upsert_from(self.compute(relations))

    def upsert_from(self, query: str) -> str:
        """INSERT the rows of ``query`` (this rollup's columns), adding to the rows already there."""
        columns = ", ".join(self.keys + self.measures)
        added = ", ".join(f"{m} = r.{m} + EXCLUDED.{m}" for m in self.measures)
        # Key order: concurrent consumers lock rollup rows in one order and cannot deadlock.
        return (
            f"INSERT INTO {self.table} AS r ({columns}) {query}"
            f" ORDER BY {', '.join(str(n) for n in range(1, len(self.keys) + 1))}"
            f" ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {added}"
        )


#: Relation name (or parenthesised subquery) for each placeholder of a definition.
Relations = dict[str, str]

LINES_PER_TRANSACTION = """
    SELECT i.transaction_id, count(*) AS item_lines,
        -- A weighed line counts as one unit: 0.754 kg of bananas is one item in the basket.
        sum(CASE WHEN p.unit = 'kg' THEN 1 ELSE i.quantity END) AS units,
        coalesce(sum(i.line_total) FILTER (WHERE cardinality(i.tax_codes) = 0), 0) AS zero_rated
    FROM {items} i JOIN products p USING (sku)
    GROUP BY i.transaction_id
"""

ROLLUPS = (
    Rollup(
        "analytics.rollup_store_day",
        ("local_date", "store_id"),
        (
            "transactions",
            "item_lines",
            "units",
            "sales",
            "zero_rated_sales",
            "tax_total",
            "rounding",
            "total",
            "member_transactions",
            "member_sales",
        ),
        """
        SELECT t.local_time::date, t.store_id, count(*), sum(l.item_lines), sum(l.units),
            sum(t.subtotal), sum(l.zero_rated), sum(t.tax_total), sum(t.rounding), sum(t.total),
            count(t.customer_id), coalesce(sum(t.subtotal) FILTER (WHERE t.customer_id IS NOT NULL), 0)
        FROM {tx} t JOIN {tx_lines} l USING (transaction_id)
        GROUP BY 1, 2""",
    ),
    Rollup(
        "analytics.rollup_store_day_tax",
        ("local_date", "store_id", "tax_code"),
        ("transactions", "taxable_amount", "tax_amount"),
        """
        SELECT t.local_time::date, t.store_id, x.tax_code, count(*), sum(x.taxable_amount), sum(x.amount)
        FROM {tx} t JOIN {taxes} x USING (transaction_id)
        GROUP BY 1, 2, 3""",
    ),
    Rollup(
        "analytics.rollup_product_day",
        ("local_date", "store_id", "sku"),
        ("lines", "units", "sales", "discount", "promo_lines"),
        """
        SELECT l.local_date, l.store_id, l.sku, count(*), sum(l.quantity), sum(l.line_total),
            sum(l.discount), count(*) FILTER (WHERE l.discount > 0)
        FROM {lines} l
        GROUP BY 1, 2, 3""",
    ),
    Rollup(
        "analytics.rollup_store_hour",
        ("local_date", "store_id", "local_hour"),
        ("transactions", "sales"),
        """
        SELECT t.local_time::date, t.store_id, extract(hour FROM t.local_time)::smallint, count(*),
            sum(t.subtotal)
        FROM {tx} t
        GROUP BY 1, 2, 3""",
    ),
    Rollup(
        "analytics.rollup_basket_day",
        ("local_date", "store_id", "item_lines", "value_band"),
        ("transactions", "sales"),
        f"""
        SELECT t.local_time::date, t.store_id, l.item_lines,
            floor(t.subtotal / {VALUE_BAND_DOLLARS})::int * {VALUE_BAND_DOLLARS}, count(*), sum(t.subtotal)
        FROM {{tx}} t JOIN {{tx_lines}} l USING (transaction_id)
        GROUP BY 1, 2, 3, 4""",
    ),
    Rollup(
        "analytics.rollup_payment_day",
        ("local_date", "store_id", "payment_method"),
        ("transactions", "sales", "total"),
        """
        SELECT t.local_time::date, t.store_id, t.payment_method, count(*), sum(t.subtotal), sum(t.total)
        FROM {tx} t
        GROUP BY 1, 2, 3""",
    ),
)

FACTS: Relations = {
    "tx": "transactions",
    "taxes": "transaction_taxes",
    "lines": """(SELECT i.*, t.store_id, t.local_time::date AS local_date
                 FROM items_purchased i JOIN transactions t USING (transaction_id))""",
    "tx_lines": f"({LINES_PER_TRANSACTION.format(items='items_purchased')})",
}

#: The rollup of each (local day, store, SKU): the loader also derives a batch's stock moves and
#: inventory change from its rows, so the batch's item lines are aggregated once.
PRODUCT_DAY = next(r for r in ROLLUPS if r.table == "analytics.rollup_product_day")

_MISMATCH = """
    SELECT count(*) FROM {table} r FULL JOIN ({recomputed}) f ({columns}) USING ({keys})
    WHERE {differs}
"""


def batch_statements(relations: Relations, product_day: str) -> list[str]:
    """SQL that adds the checkouts in ``relations`` (new ones only!) to every rollup.

    ``product_day`` holds the batch's rows of :data:`PRODUCT_DAY`, already computed.
    """
    return [
        rollup.upsert_from(f"SELECT * FROM {product_day}")
        if rollup is PRODUCT_DAY
        else rollup.upsert(relations)
        for rollup in ROLLUPS
    ]


def rebuild_statements() -> list[str]:
    """SQL that empties every rollup (daily stock included) and fills it again from the facts."""
    statements = []
    for rollup in ROLLUPS:
        statements += [f"TRUNCATE {rollup.table}", rollup.upsert(FACTS)]
    return [*statements, *stock.REBUILD]


def rebuild(cur: psycopg.Cursor[tuple[object, ...]]) -> None:
    """Empty every rollup and fill it again from the fact tables."""
    for statement in rebuild_statements():
        cur.execute(statement)


def mismatch_query(rollup: Rollup) -> str:
    """Rows that differ between ``rollup``'s table and its recomputation from the facts."""
    columns = rollup.keys + rollup.measures
    differs = " OR ".join(f"r.{m} IS DISTINCT FROM f.{m}" for m in rollup.measures)
    return _MISMATCH.format(
        table=rollup.table,
        recomputed=rollup.compute(FACTS),
        columns=", ".join(columns),
        keys=", ".join(rollup.keys),
        differs=differs,
    )


def mismatches(cur: psycopg.Cursor[tuple[object, ...]]) -> dict[str, int]:
    """For each rollup, how many of its rows disagree with the fact tables (0 when exact)."""
    found = {}
    for rollup in ROLLUPS:
        cur.execute(mismatch_query(rollup))
        row = cur.fetchone()
        found[rollup.table] = int(str(row[0])) if row else 0
    found[stock.TABLE] = stock.mismatches(cur)
    return found
