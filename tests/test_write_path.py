"""The loader's write path: the race two consumers can run, the ledger without sale rows, and what
``pos check`` proves now that the fact tables have no enforced foreign keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conftest import PgServer
from pos_cli import run_pos
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.warehouse import migrate
from pos_pipeline.warehouse.checked_receipt import CheckedReceipt, ReceiptChecker
from pos_pipeline.warehouse.db import connect
from pos_pipeline.warehouse.ingest import known_entities
from pos_pipeline.warehouse.jsonl_load import load_jsonl
from pos_pipeline.warehouse.loader import BatchLoader
from pos_pipeline.warehouse.reconcile import check_invariants


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of a small chain as JSON lines."""
    home = tmp_path_factory.mktemp("write-path")
    path = home / "receipts.jsonl"
    result = run_pos(
        [
            *("simulate", "--start", "2025-05-06", "--days", "2", "--scale", "0.01", "--seed", "8"),
            *("--output", "jsonl", "--file", str(path)),
        ],
        {"PATH": "/usr/bin:/bin", "POS_HOME": str(home)},
        home,
    )
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture
def loaded(pg_server: PgServer, receipts: Path) -> Iterator[str]:
    url = pg_server.create_database(template=pg_server.template())
    try:
        assert load_jsonl(url, receipts) > 500
        yield url
    finally:
        pg_server.drop_database(url)


def checked(url: str, receipts: Path) -> list[CheckedReceipt]:
    with connect(url) as conn:
        checker = ReceiptChecker(known_entities(conn), tax_table())
    return [checker.check(line, None) for line in receipts.read_bytes().splitlines()]


def violations(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {name: n for name, n in check_invariants(conn).items() if n}


def test_a_batch_another_consumer_is_inserting_meanwhile_becomes_duplicates(
    warehouse_url: str, receipts: Path
) -> None:
    batch = checked(warehouse_url, receipts)[:300]
    first, second = connect(warehouse_url), connect(warehouse_url)
    try:
        one, other = BatchLoader(first), BatchLoader(second)
        # The first consumer has inserted the batch but not committed: the second one's probe
        # cannot see it yet, so its insert waits on the primary key and then fails.
        assert one.load(batch).inserted == 300
        results = []
        racer = threading.Thread(target=lambda: results.append(other.load(batch)))
        racer.start()
        racer.join(timeout=2)
        assert racer.is_alive(), "the second insert should wait for the first transaction"
        first.commit()
        racer.join(timeout=30)
        second.commit()
    finally:
        first.close()
        second.close()
    assert [(r.inserted, r.duplicates, r.conflicts) for r in results] == [(0, 300, ())]
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM transactions").fetchone() == (300,)
    assert violations(warehouse_url) == {}


def test_sales_in_the_ledger_are_the_item_lines(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        lines = conn.execute("SELECT count(*), sum(quantity) FROM items_purchased").fetchone()
        sales = conn.execute(
            "SELECT count(*), -sum(quantity_delta) FROM inventory_ledger WHERE reason = 'sale'"
        ).fetchone()
        stored = conn.execute(
            "SELECT count(*) FROM inventory_movements WHERE reason NOT IN ('opening', 'restock')"
        ).fetchone()
    assert sales == lines and stored == (0,)
    assert violations(loaded) == {}


@pytest.mark.parametrize(
    ("tamper", "violated"),
    [
        (
            "DELETE FROM transactions WHERE transaction_id = (SELECT min(transaction_id::text)::uuid "
            "FROM transactions)",
            "an item line or tax belongs to no transaction",
        ),
        (
            "UPDATE items_purchased SET sku = 'NOPE' WHERE (transaction_id, line_no) = "
            "(SELECT transaction_id, line_no FROM items_purchased LIMIT 1)",
            "a transaction or item line references an unknown store, member, payment, date or product",
        ),
        (
            "UPDATE transactions SET store_id = 'S999' WHERE transaction_id = "
            "(SELECT transaction_id FROM transactions LIMIT 1)",
            "a transaction or item line references an unknown store, member, payment, date or product",
        ),
        (
            "UPDATE transactions SET date_key = 19000101 WHERE transaction_id = "
            "(SELECT transaction_id FROM transactions LIMIT 1)",
            "a transaction or item line references an unknown store, member, payment, date or product",
        ),
        (
            "UPDATE inventory SET on_hand = on_hand + 1 WHERE (store_id, sku) = "
            "(SELECT store_id, sku FROM inventory LIMIT 1)",
            "on_hand is not opening + deliveries - sales",
        ),
    ],
)
def test_pos_check_finds_what_the_foreign_keys_used_to_refuse(
    loaded: str, tamper: str, violated: str
) -> None:
    with psycopg.connect(loaded) as conn:
        conn.execute(tamper)
    assert violated in violations(loaded)


SALE_ROWS = "SELECT count(*) FROM inventory_movements WHERE reason = 'sale'"


def test_the_migration_turns_sale_movements_into_the_ledger_view_and_back(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        before = conn.execute(
            "SELECT store_id, sku, sum(quantity_delta) FROM inventory_ledger GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        lines = conn.execute("SELECT count(*) FROM items_purchased").fetchone()
    migrate.downgrade(loaded, "0005")
    with psycopg.connect(loaded) as conn:
        sale_rows = conn.execute(SALE_ROWS).fetchone()
        keys = conn.execute(
            "SELECT count(*) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = 'items_purchased'::regclass"
        ).fetchone()
    assert sale_rows == lines and keys == (2,)
    migrate.upgrade(loaded)
    with psycopg.connect(loaded) as conn:
        after = conn.execute(
            "SELECT store_id, sku, sum(quantity_delta) FROM inventory_ledger GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM inventory_movements WHERE reason = 'sale'").fetchone() == (
            0,
        )
    assert after == before
    assert violations(loaded) == {}


def test_fact_foreign_keys_are_declared_but_not_enforced_where_the_server_can(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        version = int(str((conn.execute("SHOW server_version_num").fetchone() or (0,))[0]))
        keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
            "('transactions'::regclass, 'items_purchased'::regclass, 'transaction_taxes'::regclass)"
        ).fetchone()
        if version >= 180000:
            enforced = conn.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conenforced AND conrelid IN "
                "('transactions'::regclass, 'items_purchased'::regclass, 'transaction_taxes'::regclass)"
            ).fetchone()
            assert keys == (7,) and enforced == (0,)
        else:
            assert keys == (0,)
