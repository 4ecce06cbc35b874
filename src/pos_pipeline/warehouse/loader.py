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
from datetime import date

import psycopg

from pos_pipeline.analytics import rollups, stock
from pos_pipeline.reference.calendar import date_row
from pos_pipeline.warehouse.checked_receipt import CheckedReceipt
from pos_pipeline.warehouse.restock_loader import IncomingRestock, load_restocks, prepare_restock_staging

# Session settings of the loading connection. Staging tables have no statistics, so the planner
# overestimates every batch statement, and just-in-time compilation (on by default above a cost
# threshold) then spends hundreds of milliseconds compiling a statement that runs in tens. The
# batch's sorts and hashes, and its staging tables (temp_buffers, set before any temp table is
# touched), fit in memory instead of spilling to disk. psycopg prepares a statement run five
# times, and after five executions PostgreSQL may keep a generic plan: the probe's, made while the
# warehouse was empty, was a sequential scan that got slower with every batch (3 ms a probe of 40
# receipts over 20,000 transactions, against 0.1 ms by the primary key); so every statement of
# the session is planned for its own parameters.
_SESSION = (
    "SET jit = off; SET work_mem = '64MB'; SET temp_buffers = '256MB'; "
    "SET plan_cache_mode = force_custom_plan"
)

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_transactions (
    transaction_id uuid, store_id text, register_id int, customer_id text, payment_method text,
    occurred_at timestamptz, local_time timestamp, date_key int, subtotal numeric, tax_total numeric,
    rounding numeric, total numeric, currency text, published_at timestamptz, content_sha256 bytea
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_items (
    transaction_id uuid, line_no int, sku text, quantity numeric, unit_price numeric,
    discount numeric, line_total numeric, tax_codes text[], store_id text, local_date date
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_taxes (
    transaction_id uuid, tax_code text, rate numeric, taxable_amount numeric, amount numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS batch_tx_lines (
    transaction_id uuid, item_lines bigint, units numeric, zero_rated numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS batch_product_day (
    local_date date, store_id text, sku text, lines bigint, units numeric, sales numeric,
    discount numeric, promo_lines bigint
) ON COMMIT DELETE ROWS;
"""

# The batch's new transactions, as the rollups read them (see pos_pipeline.analytics.rollups).
_NEW: rollups.Relations = {
    "tx": "stage_transactions",
    "taxes": "stage_taxes",
    "lines": "stage_items",
    "tx_lines": "batch_tx_lines",
}

# The staging tables hold only transactions the warehouse does not have (the batch is probed
# first), so every statement below is a plain insert or a grouped upsert over them.
_INSERT = (
    """
    INSERT INTO transactions (transaction_id, store_id, register_id, customer_id, payment_method,
        occurred_at, local_time, date_key, subtotal, tax_total, rounding, total, currency,
        published_at, content_sha256)
    SELECT transaction_id, store_id, register_id, customer_id, payment_method, occurred_at,
        local_time, date_key, subtotal, tax_total, rounding, total, currency, published_at,
        content_sha256
    FROM stage_transactions
    """,
    """
    INSERT INTO items_purchased (transaction_id, line_no, sku, quantity, unit_price, discount,
        line_total, tax_codes)
    SELECT transaction_id, line_no, sku, quantity, unit_price, discount, line_total, tax_codes
    FROM stage_items
    """,
    """
    INSERT INTO transaction_taxes (transaction_id, tax_code, rate, taxable_amount, amount)
    SELECT transaction_id, tax_code, rate, taxable_amount, amount FROM stage_taxes
    """,
    # What the rollups read, computed once: each transaction's lines, and each (day, store,
    # SKU)'s sales, which also give the stock moves and the inventory change below.
    f"INSERT INTO batch_tx_lines {rollups.LINES_PER_TRANSACTION.format(items='stage_items')}",
    f"INSERT INTO batch_product_day {rollups.PRODUCT_DAY.compute(_NEW)}",
    # One update per (store, SKU) per batch, in key order so that concurrent
    # consumers lock inventory rows in the same order and cannot deadlock.
    """
    INSERT INTO inventory AS inv (store_id, sku, on_hand, reorder_point)
    SELECT store_id, sku, -sum(units), 0
    FROM batch_product_day
    GROUP BY store_id, sku
    ORDER BY store_id, sku
    ON CONFLICT (store_id, sku) DO UPDATE
        SET on_hand = inv.on_hand + EXCLUDED.on_hand, updated_at = clock_timestamp()
    """,
)

# Everything after the COPYs. The statements take no parameters, so they go in one round trip,
# as one script: psycopg's pipeline mode (prepared statements) measured slower in the consumer,
# and a plan prepared for one batch's size would be kept for batches a thousand times larger.
_SALES = (
    *_INSERT,
    *rollups.batch_statements(_NEW, "batch_product_day"),
    stock.sales_statement("batch_product_day"),
)

_LOADED = """
    SELECT transaction_id::text, content_sha256 FROM transactions
    WHERE transaction_id = ANY(%s::uuid[])
"""

# A batch retried this many times because another consumer inserted one of its transactions
# between the probe and the insert (a rebalance overlap) is an error, not a race.
_RETRIES = 5


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a batch did: transactions inserted and replays skipped."""

    inserted: int
    duplicates: int
    restocks: int = 0
    restock_duplicates: int = 0
    conflicts: tuple[CheckedReceipt, ...] = ()
    #: The transactions this batch inserted (not the replays), for their end-to-end latency.
    new: tuple[CheckedReceipt, ...] = ()


class BatchLoader:
    """Loads batches on one connection; the caller owns the database transaction."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], one_by_one: bool = False) -> None:
        self.conn = conn
        #: Send the statements one at a time and wait for each (to time them one by one).
        self.one_by_one = one_by_one
        self._known_dates: set[int] | None = None
        with conn.cursor() as cur:
            cur.execute(_SESSION)
            cur.execute(_STAGING)
            stock.prepare(cur)
        prepare_restock_staging(conn)
        conn.commit()

    def load(self, batch: Sequence[CheckedReceipt], restocks: Sequence[IncomingRestock] = ()) -> LoadResult:
        """Stage and insert ``batch`` (deliveries first) in the current transaction; the caller commits.

        The transaction must be empty when called: a race with another consumer rolls it back
        and does the batch again.
        """
        for attempt in range(_RETRIES):
            try:
                restocked = load_restocks(self.conn, restocks) if restocks else 0
                result = self._load_sales(batch, restocks, restocked)
                # Deliveries and sales of the batch move the daily stock together, once.
                self._run(stock.MOVES)
                return result
            except psycopg.errors.UniqueViolation:
                # Another consumer inserted one of these after the probe (both held the
                # partition across a rebalance): probe again, now that its rows are committed.
                self.conn.rollback()
                self._known_dates = None  # what this attempt added to ``dates`` is gone too
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _load_sales(
        self, batch: Sequence[CheckedReceipt], restocks: Sequence[IncomingRestock], restocked: int
    ) -> LoadResult:
        unique: dict[str, CheckedReceipt] = {}
        conflicts: list[CheckedReceipt] = []
        for receipt in batch:
            first = unique.setdefault(receipt.transaction_id, receipt)
            if first is not receipt and first.content_sha256 != receipt.content_sha256:
                conflicts.append(receipt)
        if not unique:
            return LoadResult(0, 0, restocked, len(restocks) - restocked)
        with self.conn.cursor() as cur:
            cur.execute(_LOADED, (list(unique),))
            for tid, digest in cur.fetchall():
                loaded = unique.pop(str(tid))
                if digest != loaded.content_sha256:
                    conflicts.append(loaded)
            new = tuple(unique.values())
            if new:
                self._ensure_dates(cur, {r.date_key for r in new})
                with cur.copy("COPY stage_transactions FROM STDIN") as copy:
                    copy.write("".join(r.transaction_row for r in new))
                with cur.copy("COPY stage_items FROM STDIN") as copy:
                    copy.write("".join(r.item_rows for r in new))
                with cur.copy("COPY stage_taxes FROM STDIN") as copy:
                    copy.write("".join(r.tax_rows for r in new))
                self._run(_SALES)
        return LoadResult(
            inserted=len(new),
            duplicates=len(batch) - len(new) - len(conflicts),
            restocks=restocked,
            restock_duplicates=len(restocks) - restocked,
            conflicts=tuple(conflicts),
            new=new,
        )

    def _run(self, statements: Sequence[str]) -> None:
        """Execute ``statements`` in order, in one round trip unless timing them one by one."""
        with self.conn.cursor() as cur:
            if self.one_by_one:
                for statement in statements:
                    cur.execute(statement)
            else:
                cur.execute(";\n".join(statements))

    def _ensure_dates(self, cur: psycopg.Cursor[tuple[object, ...]], keys: set[int]) -> None:
        if self._known_dates is None:
            cur.execute("SELECT date_key FROM dates")
            self._known_dates = {int(str(row[0])) for row in cur.fetchall()}
        missing = [k for k in keys if k not in self._known_dates]
        for key in missing:
            row = date_row(date(key // 10000, key // 100 % 100, key % 100))
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
