"""Set-based loading of restock events, idempotent by ``event_id``.

Like checkouts: staged with COPY, merged inside the caller's transaction; only
deliveries not seen before add ``restock`` movements, raise ``on_hand`` and are
staged for the daily stock (:mod:`pos_pipeline.analytics.stock`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from pos_pipeline.analytics import stock
from pos_pipeline.contract.restock import ValidRestock

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_restocks (
    event_id uuid, store_id text, occurred_at timestamptz, published_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_restock_lines (event_id uuid, sku text, quantity numeric)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS new_restocks (event_id uuid PRIMARY KEY) ON COMMIT DELETE ROWS;
"""

_MERGE = (
    """
    WITH inserted AS (
        INSERT INTO restocks (event_id, store_id, occurred_at, published_at)
        SELECT event_id, store_id, occurred_at, published_at FROM stage_restocks
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
    )
    INSERT INTO new_restocks SELECT event_id FROM inserted
    """,
    """
    INSERT INTO inventory_movements (store_id, sku, quantity_delta, reason, restock_id, occurred_at)
    SELECT r.store_id, l.sku, l.quantity, 'restock', r.event_id, r.occurred_at
    FROM stage_restock_lines l JOIN new_restocks USING (event_id) JOIN stage_restocks r USING (event_id)
    """,
    # Key order, as for sales, so that concurrent consumers cannot deadlock.
    """
    INSERT INTO inventory AS inv (store_id, sku, on_hand, reorder_point)
    SELECT r.store_id, l.sku, sum(l.quantity), 0
    FROM stage_restock_lines l JOIN new_restocks USING (event_id) JOIN stage_restocks r USING (event_id)
    GROUP BY r.store_id, l.sku
    ORDER BY r.store_id, l.sku
    ON CONFLICT (store_id, sku) DO UPDATE
        SET on_hand = inv.on_hand + EXCLUDED.on_hand, updated_at = clock_timestamp()
    """,
)


# The batch's new deliveries, as the daily stock reads them (see pos_pipeline.analytics.stock).
_NEW_RESTOCKS = "(SELECT s.* FROM stage_restocks s JOIN new_restocks USING (event_id))"


@dataclass(frozen=True, slots=True)
class IncomingRestock:
    """A checked restock and the instant the broker stamped it."""

    restock: ValidRestock
    published_at: datetime | None


def prepare_restock_staging(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create this connection's staging tables (kept for the session, emptied at commit)."""
    with conn.cursor() as cur:
        cur.execute(_STAGING)


def load_restocks(conn: psycopg.Connection[tuple[object, ...]], batch: Sequence[IncomingRestock]) -> int:
    """Stage and merge ``batch`` in the current transaction; return the deliveries that were new."""
    unique = {i.restock.event_id: i for i in batch}
    with conn.cursor() as cur:
        with cur.copy("COPY stage_restocks FROM STDIN") as copy:
            for incoming in unique.values():
                r = incoming.restock
                copy.write_row((r.event_id, r.store_id, r.occurred_at, incoming.published_at))
        with cur.copy("COPY stage_restock_lines FROM STDIN") as copy:
            for incoming in unique.values():
                for sku, quantity in incoming.restock.lines:
                    copy.write_row((incoming.restock.event_id, sku, quantity))
        cur.execute(_MERGE[0])
        inserted = cur.rowcount
        for statement in _MERGE[1:]:
            cur.execute(statement)
        if inserted:
            stock.stage_restocks(cur, _NEW_RESTOCKS, "stage_restock_lines")
    return inserted
