"""``pos db``: idempotent init, migrations, dump and restore through the real client tools."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from conftest import PgServer
from pos_cli import pos_env, run_pos
from pos_pipeline.warehouse.migrate import current_revision, head_revision
from pos_pipeline.warehouse.setup import init_warehouse
from pos_pipeline.warehouse.summary import TABLES, table_counts


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return table_counts(conn)


def test_init_is_idempotent(empty_database_url: str) -> None:
    first = init_warehouse(empty_database_url)
    assert first["stores"] >= 40 and first["products"] >= 300 and first["customers"] > 0
    after_first = counts(empty_database_url)
    second = init_warehouse(empty_database_url)
    assert second["inventory"] == 0  # opening stock is written once
    assert counts(empty_database_url) == after_first
    assert current_revision(empty_database_url) == head_revision()


def test_opening_stock_is_the_ledger(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute("""
            SELECT count(*) FILTER (WHERE i.on_hand <> m.quantity_delta), count(*)
            FROM inventory i JOIN inventory_movements m USING (store_id, sku)
            WHERE m.reason = 'opening'""").fetchone()
        stores, skus = conn.execute(
            "SELECT (SELECT count(*) FROM stores), (SELECT count(*) FROM products)"
        ).fetchone() or (0, 0)
    assert row is not None
    assert row[0] == 0
    assert row[1] == stores * skus


def test_tax_rates_table_matches_the_simulators_source(warehouse_url: str) -> None:
    from pos_pipeline.reference.tax import tax_table

    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT province, tax_code, rate, effective_from, effective_to FROM tax_rates"
        ).fetchall()
    shipped = {(r.province, r.code, r.rate, r.effective_from, r.effective_to) for r in tax_table().rates}
    assert {tuple(r) for r in rows} == shipped


@pytest.mark.parametrize("suffix", [".sql", ".dump"])
def test_dump_then_restore_gives_the_same_rows(
    tmp_path: Path, pg_server: PgServer, warehouse_url: str, suffix: str
) -> None:
    with psycopg.connect(warehouse_url) as conn:  # some facts too, not only reference data
        conn.execute("""INSERT INTO transactions (transaction_id, store_id, register_id, customer_id,
            payment_method, occurred_at, local_time, date_key, subtotal, tax_total, rounding, total,
            currency) VALUES (gen_random_uuid(), 'S001', 1, NULL, 'cash', now(), now(), 20250317,
            1.00, 0.05, 0.00, 1.05, 'CAD')""")
    source = counts(warehouse_url)
    dump_file = tmp_path / f"warehouse{suffix}"
    result = run_pos(
        ["db", "dump", str(dump_file)], pos_env(tmp_path, POS_DATABASE_URL=warehouse_url), tmp_path
    )
    assert result.returncode == 0, result.stderr
    if suffix == ".dump":
        assert dump_file.read_bytes().startswith(b"PGDMP")
    else:
        assert b"CREATE TABLE" in dump_file.read_bytes()

    target = pg_server.create_database()
    try:
        env = pos_env(tmp_path, POS_DATABASE_URL=target)
        restored = run_pos(["db", "restore", str(dump_file)], env, tmp_path)
        assert restored.returncode == 0, restored.stderr
        assert counts(target) == source
        assert set(source) == set(TABLES)
        again = run_pos(["db", "restore", str(dump_file)], env, tmp_path)
        assert again.returncode == 1
        assert "not empty" in again.stderr
    finally:
        pg_server.drop_database(target)


def test_upgrade_command_reports_the_revision(tmp_path: Path, empty_database_url: str) -> None:
    result = run_pos(["db", "upgrade"], pos_env(tmp_path, POS_DATABASE_URL=empty_database_url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"empty → {head_revision()}" in result.stdout
