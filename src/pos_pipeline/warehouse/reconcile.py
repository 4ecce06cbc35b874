"""``pos check``: the warehouse's invariants, what was dead-lettered, and how far behind the loader is."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psycopg

from pos_pipeline.analytics import rollups

INVARIANTS = {
    "on_hand is not opening + deliveries - sales": """
        SELECT count(*) FROM inventory i
        FULL JOIN (SELECT store_id, sku, sum(quantity_delta) AS total
                   FROM inventory_ledger GROUP BY store_id, sku) m USING (store_id, sku)
        WHERE i.on_hand IS DISTINCT FROM m.total""",
    "items do not add up to the transaction's subtotal": """
        SELECT count(*) FROM transactions t
        LEFT JOIN (SELECT transaction_id, sum(line_total) AS total FROM items_purchased
                   GROUP BY transaction_id) i USING (transaction_id)
        WHERE t.subtotal IS DISTINCT FROM i.total""",
    "stock on hand is negative": "SELECT count(*) FROM inventory WHERE on_hand < 0",
    # The fact tables have no enforced foreign keys (migration 0006): these prove the references.
    "an item line or tax belongs to no transaction": """
        SELECT (SELECT count(*) FROM items_purchased i
                WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.transaction_id = i.transaction_id))
             + (SELECT count(*) FROM transaction_taxes x
                WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.transaction_id = x.transaction_id))""",
    "a transaction or item line references an unknown store, member, payment, date or product": """
        SELECT (SELECT count(*) FROM transactions t
                WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = t.store_id)
                   OR (t.customer_id IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id))
                   OR NOT EXISTS (SELECT 1 FROM payment_options p WHERE p.payment_method = t.payment_method)
                   OR NOT EXISTS (SELECT 1 FROM dates d WHERE d.date_key = t.date_key))
             + (SELECT count(*) FROM items_purchased i
                WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = i.sku))""",
    "a transaction's total is not subtotal + tax + rounding": """
        SELECT count(*) FROM transactions WHERE total <> subtotal + tax_total + rounding""",
    "a transaction's taxes do not add up to its tax_total": """
        SELECT count(*) FROM transactions t
        LEFT JOIN (SELECT transaction_id, sum(amount) AS total FROM transaction_taxes
                   GROUP BY transaction_id) x USING (transaction_id)
        WHERE t.tax_total <> coalesce(x.total, 0)""",
}


@dataclass
class Report:
    """What ``pos check`` found."""

    violations: dict[str, int] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no invariant is violated."""
        return not any(self.violations.values())


def check_invariants(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Rows violating each invariant of the warehouse, analytics rollups against the facts included.

    Runs in a transaction of its own: whatever ``conn`` had open is rolled back first.
    """
    found = {}
    conn.rollback()
    with conn.cursor() as cur:
        # One snapshot for every query: a loader committing meanwhile cannot make facts and
        # rollups look out of step.
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for name, query in INVARIANTS.items():
            cur.execute(query)
            row = cur.fetchone()
            found[name] = int(str(row[0])) if row else 0
        for table, count in rollups.mismatches(cur).items():
            found[f"{table} differs from a recomputation from the facts"] = count
    conn.rollback()
    return found
