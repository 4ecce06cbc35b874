"""lean fact writes: sales derived from item lines, no per-row foreign-key triggers on facts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:00:00

Every item line used to cost the loader a second row (a ``sale`` movement that repeated the line
with its sign turned) and, with the transaction, six foreign-key triggers, each an index lookup
run row by row. The loader already checks every reference against the warehouse before it writes
(an unknown store, SKU or member is a dead letter) and writes a transaction with its lines in one
database transaction, so those triggers only ever confirmed what was known. Now:

- ``inventory_movements`` holds stock coming in (opening balances and deliveries); sales are the
  item lines themselves. ``inventory_ledger`` is the whole ledger as a view, so
  on-hand = opening + deliveries − sales per (store, SKU) stays one query (``pos check``).
- The fact tables (``transactions``, ``items_purchased``, ``transaction_taxes``) carry no enforced
  foreign keys. On PostgreSQL 18 and later they are declared ``NOT ENFORCED``, so the schema still
  says what references what; ``pos check`` proves that no row references what does not exist.
- ``analytics.ix_rollup_stock_day_closed_empty`` (partial, ``WHERE closing <= 0``) becomes a BRIN
  index on ``local_date``: an index that involves ``closing`` makes every update of a daily-stock
  row a non-HOT update, a new row version with new index entries. At a live trickle each row is
  updated per batch, a few times a second, and the dead versions slowed every batch after it
  (freshness fell from about 100 ms to half a second within 30 s at 1,000 receipts a second).
- ``ix_transactions_date_key`` and ``ix_items_purchased_sku`` go: the dashboard and reports read
  the rollups, and time ranges are served by ``ix_transactions_store_occurred``. The SKU index was
  nearly half the cost of writing an item line; whoever queries lines by SKU ad hoc can add it
  back (``CREATE INDEX CONCURRENTLY``) and pay for it knowingly.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, definition) of every foreign key a fact row used to check on insert.
FACT_KEYS = (
    (
        "transactions",
        "fk_transactions_store_id_stores",
        "FOREIGN KEY (store_id) REFERENCES stores (store_id)",
    ),
    (
        "transactions",
        "fk_transactions_customer_id_customers",
        "FOREIGN KEY (customer_id) REFERENCES customers (customer_id)",
    ),
    (
        "transactions",
        "fk_transactions_payment_method_payment_options",
        "FOREIGN KEY (payment_method) REFERENCES payment_options (payment_method)",
    ),
    ("transactions", "fk_transactions_date_key_dates", "FOREIGN KEY (date_key) REFERENCES dates (date_key)"),
    (
        "items_purchased",
        "fk_items_purchased_transaction_id_transactions",
        "FOREIGN KEY (transaction_id) REFERENCES transactions (transaction_id) ON DELETE CASCADE",
    ),
    ("items_purchased", "fk_items_purchased_sku_products", "FOREIGN KEY (sku) REFERENCES products (sku)"),
    (
        "transaction_taxes",
        "fk_transaction_taxes_transaction_id_transactions",
        "FOREIGN KEY (transaction_id) REFERENCES transactions (transaction_id) ON DELETE CASCADE",
    ),
)

LEDGER = """
CREATE VIEW inventory_ledger AS
SELECT m.store_id, m.sku, m.quantity_delta, m.reason, m.occurred_at, m.restock_id,
    NULL::uuid AS transaction_id
FROM inventory_movements m
UNION ALL
SELECT t.store_id, i.sku, -i.quantity, 'sale', t.occurred_at, NULL, t.transaction_id
FROM items_purchased i JOIN transactions t USING (transaction_id)
"""


def _declares_unenforced() -> bool:
    """PostgreSQL 18 can declare a foreign key without enforcing it."""
    version = op.get_bind().exec_driver_sql("SHOW server_version_num").scalar()
    return int(str(version)) >= 180000


def upgrade() -> None:
    for table, name, _ in FACT_KEYS:
        op.drop_constraint(op.f(name), table, type_="foreignkey")
    if _declares_unenforced():
        for table, name, definition in FACT_KEYS:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT ENFORCED")
    op.execute("DELETE FROM inventory_movements WHERE reason = 'sale'")
    op.drop_index("ix_inventory_movements_transaction_id", table_name="inventory_movements")
    op.drop_index("ix_inventory_movements_stock_in", table_name="inventory_movements")
    op.drop_column("inventory_movements", "transaction_id")
    op.drop_constraint(op.f("ck_inventory_movements_reason"), "inventory_movements", type_="check")
    op.create_check_constraint(
        op.f("ck_inventory_movements_reason"), "inventory_movements", "reason IN ('opening', 'restock')"
    )
    op.drop_index("ix_transactions_date_key", table_name="transactions")
    op.drop_index("ix_items_purchased_sku", table_name="items_purchased")
    op.drop_index("ix_rollup_stock_day_closed_empty", table_name="rollup_stock_day", schema="analytics")
    op.execute(
        "CREATE INDEX ix_rollup_stock_day_local_date_brin ON analytics.rollup_stock_day "
        "USING brin (local_date) WITH (pages_per_range = 16)"
    )
    op.execute(LEDGER)


def downgrade() -> None:
    op.execute("DROP VIEW inventory_ledger")
    op.execute("DROP INDEX analytics.ix_rollup_stock_day_local_date_brin")
    op.create_index(
        "ix_rollup_stock_day_closed_empty",
        "rollup_stock_day",
        ["local_date"],
        schema="analytics",
        postgresql_where=sa.text("closing <= 0"),
    )
    op.create_index("ix_items_purchased_sku", "items_purchased", ["sku"])
    op.create_index("ix_transactions_date_key", "transactions", ["date_key"])
    op.drop_constraint(op.f("ck_inventory_movements_reason"), "inventory_movements", type_="check")
    op.create_check_constraint(
        op.f("ck_inventory_movements_reason"),
        "inventory_movements",
        "reason IN ('opening', 'sale', 'restock')",
    )
    op.execute(
        "ALTER TABLE inventory_movements ADD COLUMN transaction_id uuid "
        "REFERENCES transactions (transaction_id) ON DELETE CASCADE"
    )
    op.execute("""
        INSERT INTO inventory_movements (store_id, sku, quantity_delta, reason, transaction_id, occurred_at)
        SELECT t.store_id, i.sku, -i.quantity, 'sale', t.transaction_id, t.occurred_at
        FROM items_purchased i JOIN transactions t USING (transaction_id)
        ORDER BY t.occurred_at, i.transaction_id, i.line_no
    """)
    op.create_index("ix_inventory_movements_transaction_id", "inventory_movements", ["transaction_id"])
    op.execute(
        "CREATE INDEX ix_inventory_movements_stock_in ON inventory_movements (reason, store_id, sku) "
        "WHERE reason <> 'sale'"
    )
    for table, name, definition in FACT_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
