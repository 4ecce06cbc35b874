"""Set-based loading of a batch of checked transactions, idempotent by ``transaction_id``.

A batch is staged with COPY, then merged in a few statements inside the
caller's database transaction: new transactions are inserted (replays are
skipped by the primary key), and only for those are items, taxes, ``sale``
movements, the inventory change and the analytics rollups written. Re-loading
any batch, after a crash or a rebalance, therefore changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from pos_pipeline.analytics import rollups, stock
from pos_pipeline.contract.validate import ValidTransaction
from pos_pipeline.reference.calendar import date_key, date_row
from pos_pipeline.warehouse.restock_loader import IncomingRestock, load_restocks, prepare_restock_staging

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_transactions (
    transaction_id uuid, store_id text, register_id int, customer_id text, payment_method text,
    occurred_at timestamptz, local_time timestamp, date_key int, subtotal numeric, tax_total numeric,
    rounding numeric, total numeric, currency text, published_at timestamptz, content_sha256 bytea
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_items (
    transaction_id uuid, line_no int, sku text, quantity numeric, unit_price numeric,
    discount numeric, line_total numeric, tax_codes text[]
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_taxes (
    transaction_id uuid, tax_code text, rate numeric, taxable_amount numeric, amount numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS new_transactions (transaction_id uuid PRIMARY KEY)
    ON COMMIT DELETE ROWS;
"""

_MERGE = (
    """
    WITH inserted AS (
        INSERT INTO transactions (transaction_id, store_id, register_id, customer_id, payment_method,
            occurred_at, local_time, date_key, subtotal, tax_total, rounding, total, currency,
            published_at, content_sha256)
        SELECT transaction_id, store_id, register_id, customer_id, payment_method, occurred_at,
            local_time, date_key, subtotal, tax_total, rounding, total, currency, published_at,
            content_sha256
        FROM stage_transactions
        ON CONFLICT (transaction_id) DO NOTHING
        RETURNING transaction_id
    )
    INSERT INTO new_transactions SELECT transaction_id FROM inserted
    """,
    """
    INSERT INTO items_purchased (transaction_id, line_no, sku, quantity, unit_price, discount,
        line_total, tax_codes)
    SELECT i.transaction_id, i.line_no, i.sku, i.quantity, i.unit_price, i.discount, i.line_total,
        i.tax_codes
    FROM stage_items i JOIN new_transactions USING (transaction_id)
    """,
    """
    INSERT INTO transaction_taxes (transaction_id, tax_code, rate, taxable_amount, amount)
    SELECT x.transaction_id, x.tax_code, x.rate, x.taxable_amount, x.amount
    FROM stage_taxes x JOIN new_transactions USING (transaction_id)
    """,
    """
    INSERT INTO inventory_movements (store_id, sku, quantity_delta, reason, transaction_id, occurred_at)
    SELECT t.store_id, i.sku, -i.quantity, 'sale', t.transaction_id, t.occurred_at
    FROM stage_items i
    JOIN new_transactions USING (transaction_id)
    JOIN stage_transactions t USING (transaction_id)
    """,
    # One update per (store, SKU) per batch, in key order so that concurrent
    # consumers lock inventory rows in the same order and cannot deadlock.
    """
    INSERT INTO inventory AS inv (store_id, sku, on_hand, reorder_point)
    SELECT t.store_id, i.sku, -sum(i.quantity), 0
    FROM stage_items i
    JOIN new_transactions USING (transaction_id)
    JOIN stage_transactions t USING (transaction_id)
    GROUP BY t.store_id, i.sku
    ORDER BY t.store_id, i.sku
    ON CONFLICT (store_id, sku) DO UPDATE
        SET on_hand = inv.on_hand + EXCLUDED.on_hand, updated_at = clock_timestamp()
    """,
)


# The batch's new transactions, as the rollups read them (see pos_pipeline.analytics.rollups).
_NEW = {
    "tx": "(SELECT s.* FROM stage_transactions s JOIN new_transactions USING (transaction_id))",
    "items": "(SELECT s.* FROM stage_items s JOIN new_transactions USING (transaction_id))",
    "taxes": "(SELECT s.* FROM stage_taxes s JOIN new_transactions USING (transaction_id))",
}

# Already loaded under the same id, but with other content: not a replay, a conflict.
_CONFLICTS = """
    SELECT s.transaction_id FROM stage_transactions s JOIN transactions t USING (transaction_id)
    WHERE NOT EXISTS (SELECT 1 FROM new_transactions n WHERE n.transaction_id = s.transaction_id)
      AND t.content_sha256 IS DISTINCT FROM s.content_sha256
"""


@dataclass(frozen=True, slots=True)
class Incoming:
    """A checked transaction, the instant the broker stamped it, and the digest of its bytes."""

    transaction: ValidTransaction
    published_at: datetime | None
    content_sha256: bytes = b""
    source: Any = None  # what the caller needs to dead-letter it (the Kafka message)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a batch did: transactions inserted and replays skipped."""

    inserted: int
    duplicates: int
    restocks: int = 0
    restock_duplicates: int = 0
    conflicts: tuple[Incoming, ...] = ()
    #: The transactions this batch inserted (not the replays), for their end-to-end latency.
    new: tuple[Incoming, ...] = ()


class BatchLoader:
    """Loads batches on one connection; the caller owns the database transaction."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        self.conn = conn
        self._known_dates: set[int] | None = None
        with conn.cursor() as cur:
            cur.execute(_STAGING)
            stock.prepare(cur)
        prepare_restock_staging(conn)
        conn.commit()

    def load(self, batch: Sequence[Incoming], restocks: Sequence[IncomingRestock] = ()) -> LoadResult:
        """Stage and merge ``batch`` (deliveries first) in the current transaction; the caller commits."""
        restocked = load_restocks(self.conn, restocks) if restocks else 0
        result = self._load_sales(batch, restocks, restocked)
        # Deliveries and sales of the batch move the daily stock together, once.
        with self.conn.cursor() as cur:
            stock.apply_moves(cur)
        return result

    def _load_sales(
        self, batch: Sequence[Incoming], restocks: Sequence[IncomingRestock], restocked: int
    ) -> LoadResult:
        unique: dict[object, Incoming] = {}
        conflicts: list[Incoming] = []
        for incoming in batch:
            first = unique.setdefault(incoming.transaction.transaction_id, incoming)
            if first is not incoming and first.content_sha256 != incoming.content_sha256:
                conflicts.append(incoming)
        if not unique:
            return LoadResult(0, 0, restocked, len(restocks) - restocked)
        with self.conn.cursor() as cur:
            self._ensure_dates(cur, {i.transaction.local_date for i in unique.values()})
            with cur.copy("COPY stage_transactions FROM STDIN") as copy:
                for incoming in unique.values():
                    tx = incoming.transaction
                    copy.write_row(
                        (
                            tx.transaction_id,
                            tx.store_id,
                            tx.register_id,
                            tx.customer_id,
                            tx.payment_method,
                            tx.occurred_at,
                            tx.occurred_at.replace(tzinfo=None),
                            date_key(tx.local_date),
                            tx.subtotal,
                            tx.tax_total,
                            tx.rounding,
                            tx.total,
                            "CAD",
                            incoming.published_at,
                            incoming.content_sha256,
                        )
                    )
            with cur.copy("COPY stage_items FROM STDIN") as copy:
                for incoming in unique.values():
                    tx = incoming.transaction
                    for item in tx.items:
                        copy.write_row(
                            (
                                tx.transaction_id,
                                item.line_no,
                                item.sku,
                                item.quantity,
                                item.unit_price,
                                item.discount,
                                item.line_total,
                                list(item.taxes),
                            )
                        )
            with cur.copy("COPY stage_taxes FROM STDIN") as copy:
                for incoming in unique.values():
                    tx = incoming.transaction
                    for tax in tx.taxes:
                        copy.write_row(
                            (tx.transaction_id, tax.code, tax.rate, tax.taxable_amount, tax.amount)
                        )
            cur.execute(_MERGE[0])
            inserted = cur.rowcount
            new = self._new(cur, unique, inserted)
            for statement in _MERGE[1:]:
                cur.execute(statement)
            if inserted:
                rollups.add_batch(cur, **_NEW)
                stock.stage_sales(cur, _NEW["tx"], _NEW["items"])
            cur.execute(_CONFLICTS)
            clashing = {row[0] for row in cur.fetchall()}
        conflicts += [unique[i] for i in clashing]
        return LoadResult(
            inserted=inserted,
            duplicates=len(batch) - inserted - len(conflicts),
            restocks=restocked,
            restock_duplicates=len(restocks) - restocked,
            conflicts=tuple(conflicts),
            new=new,
        )

    @staticmethod
    def _new(
        cur: psycopg.Cursor[tuple[object, ...]], unique: dict[object, Incoming], inserted: int
    ) -> tuple[Incoming, ...]:
        # Usually all or nothing is new (a live stream, or a replay): only a mix needs asking.
        if inserted == len(unique):
            return tuple(unique.values())
        if inserted == 0:
            return ()
        cur.execute("SELECT transaction_id FROM new_transactions")
        return tuple(unique[row[0]] for row in cur.fetchall())

    def _ensure_dates(self, cur: psycopg.Cursor[tuple[object, ...]], days: set[date]) -> None:
        if self._known_dates is None:
            cur.execute("SELECT date_key FROM dates")
            self._known_dates = {int(str(row[0])) for row in cur.fetchall()}
        missing = [d for d in days if date_key(d) not in self._known_dates]
        for day in missing:
            row = date_row(day)
            cur.execute(
                "INSERT INTO dates (date_key, date, day_of_week, day_name, month, month_name, quarter,"
                " year, is_weekend, holiday_name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (
                    row.date_key,
                    row.date,
                    row.day_of_week,
                    row.day_name,
                    row.month,
                    row.month_name,
                    row.quarter,
                    row.year,
                    row.is_weekend,
                    row.holiday_name,
                ),
            )
            self._known_dates.add(row.date_key)
