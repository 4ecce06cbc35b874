"""Loading JSON-lines files of receipts straight into the warehouse, through the loader's checks.

For tests and benchmarks that need a filled warehouse without a broker: the same validation and
the same :class:`BatchLoader` as ``pos consume``, minus Kafka (so no dead letters: a bad line
raises).
"""

from __future__ import annotations

from pathlib import Path

from pos_pipeline.contract.restock import check_restock
from pos_pipeline.contract.validate import decode
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.warehouse.checked_receipt import CheckedReceipt, ReceiptChecker
from pos_pipeline.warehouse.db import connection
from pos_pipeline.warehouse.ingest import known_entities
from pos_pipeline.warehouse.loader import BatchLoader
from pos_pipeline.warehouse.restock_loader import IncomingRestock

BATCH = 2000


def load_jsonl(url: str, receipts: Path, restocks: Path | None = None) -> int:
    """Check and load every receipt (and restock) of the files, in batches; the receipts loaded.

    Raises :class:`~pos_pipeline.contract.validate.Rejection` on the first bad line.
    """
    loaded = 0
    with connection(url) as conn:
        loader, known = BatchLoader(conn), known_entities(conn)
        checker = ReceiptChecker(known, tax_table())
        if restocks is not None:
            events = [
                IncomingRestock(check_restock(decode(line), known), None) for line in restocks.open("rb")
            ]
            loader.load([], events)
            conn.commit()
        batch: list[CheckedReceipt] = []
        with receipts.open("rb") as lines:
            for line in lines:
                body = line.rstrip(b"\n")
                batch.append(checker.check(body, None))
                if len(batch) == BATCH:
                    loaded += loader.load(batch).inserted
                    conn.commit()
                    batch.clear()
        loaded += loader.load(batch).inserted
        conn.commit()
    return loaded
