"""The analytics layer as BI tools and ``pos check`` see it: views, tampering, migration backfill."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import PgServer
from pos_cli import loader_env, run_pos
from pos_pipeline.analytics import rollups
from pos_pipeline.analytics.reports import Period, Selection, run_report
from pos_pipeline.analytics.views import VIEWS
from pos_pipeline.warehouse import migrate
from pos_pipeline.warehouse.jsonl_load import load_jsonl
from pos_pipeline.warehouse.reconcile import check_invariants


@pytest.fixture(scope="module")
def receipts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of a small chain as JSON lines, across Nova Scotia's HST cut."""
    path = tmp_path_factory.mktemp("receipts") / "receipts.jsonl"
    home = path.parent
    result = run_pos(
        [
            "simulate",
            "--start",
            "2025-03-20",
            "--days",
            "21",
            "--scale",
            "0.002",
            "--seed",
            "5",
            "--output",
            "jsonl",
            "--file",
            str(path),
        ],
        {"PATH": "/usr/bin:/bin", "POS_HOME": str(home)},
        home,
    )
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def loaded(pg_server: PgServer, receipts: Path) -> Iterator[str]:
    """One loaded warehouse per server for the module; a test that tampers with it mends it."""
    url = pg_server.create_database(template=pg_server.template())
    try:
        assert load_jsonl(url, receipts) > 3000
        yield url
    finally:
        pg_server.drop_database(url)


def violations(url: str) -> dict[str, int]:
    """The invariants pos check finds violated, with their counts."""
    with psycopg.connect(url) as conn:
        return {name: count for name, count in check_invariants(conn).items() if count}


TAMPERING = {
    "analytics.rollup_store_day": "UPDATE analytics.rollup_store_day SET sales = sales + 0.01 WHERE ctid = "
    "(SELECT min(ctid) FROM analytics.rollup_store_day)",
    "analytics.rollup_store_day_tax": "DELETE FROM analytics.rollup_store_day_tax WHERE ctid = "
    "(SELECT min(ctid) FROM analytics.rollup_store_day_tax)",
    "analytics.rollup_product_day": "INSERT INTO analytics.rollup_product_day VALUES "
    "('2025-01-01', 'S001', '100001', 1, 1, 1.72, 0, 0)",
    "analytics.rollup_store_hour": "UPDATE analytics.rollup_store_hour SET transactions = transactions + 1 "
    "WHERE ctid = (SELECT min(ctid) FROM analytics.rollup_store_hour)",
    "analytics.rollup_basket_day": "UPDATE analytics.rollup_basket_day SET transactions = transactions + 1 "
    "WHERE ctid = (SELECT min(ctid) FROM analytics.rollup_basket_day)",
    "analytics.rollup_stock_day": "UPDATE analytics.rollup_stock_day SET closing = closing - 1 "
    "WHERE ctid = (SELECT min(ctid) FROM analytics.rollup_stock_day)",
    "analytics.rollup_payment_day": "UPDATE analytics.rollup_payment_day SET total = total - 0.05 "
    "WHERE ctid = (SELECT min(ctid) FROM analytics.rollup_payment_day)",
}


@pytest.mark.parametrize("table", sorted(TAMPERING))
def test_check_finds_each_rollup_that_disagrees_with_the_facts(loaded: str, table: str) -> None:
    assert violations(loaded) == {}
    with psycopg.connect(loaded) as conn:
        conn.execute(TAMPERING[table])  # type: ignore[arg-type]
    assert set(violations(loaded)) == {f"{table} differs from a recomputation from the facts"}
    with psycopg.connect(loaded) as conn, conn.cursor() as cur:
        rollups.rebuild(cur)
    assert violations(loaded) == {}


def test_pos_check_exits_1_on_tampered_analytics(
    loaded: str, bootstrap: str, topic: str, tmp_path: Path
) -> None:
    env = loader_env(tmp_path, loaded, bootstrap, topic)
    assert run_pos(["check"], env, tmp_path).returncode == 0
    with psycopg.connect(loaded) as conn:
        conn.execute(TAMPERING["analytics.rollup_store_day"])  # type: ignore[arg-type]
    try:
        result = run_pos(["check"], env, tmp_path)
        assert result.returncode == 1
        assert "analytics.rollup_store_day differs" in result.stdout
        assert "the warehouse violates its invariants" in result.stdout
    finally:
        with psycopg.connect(loaded) as conn, conn.cursor() as cur:
            rollups.rebuild(cur)


def test_days_loaded_out_of_order_settle_to_the_same_stock(
    loaded: str, pg_server: PgServer, receipts: Path, tmp_path: Path
) -> None:
    lines = receipts.read_bytes().splitlines(keepends=True)
    thirds = [
        lines[: len(lines) // 3],
        lines[len(lines) // 3 : 2 * len(lines) // 3],
        lines[2 * len(lines) // 3 :],
    ]
    url = pg_server.create_database(template=pg_server.template())
    try:
        for n in (2, 0, 1):  # the last week first, then the first, then the middle one
            part = tmp_path / f"part{n}.jsonl"
            part.write_bytes(b"".join(thirds[n]))
            load_jsonl(url, part)
        assert violations(url) == {}
        stock = "SELECT * FROM analytics.rollup_stock_day ORDER BY store_id, sku, local_date"
        with psycopg.connect(url) as shuffled, psycopg.connect(loaded) as in_order:
            rows = shuffled.execute(stock).fetchall()
            assert len(rows) > 1000
            assert rows == in_order.execute(stock).fetchall()
    finally:
        pg_server.drop_database(url)


def test_a_tampered_tax_fact_is_caught_too(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        conn.execute(
            "UPDATE transaction_taxes SET amount = amount + 0.01"
            " WHERE (transaction_id, tax_code) = (SELECT transaction_id, tax_code FROM transaction_taxes"
            " ORDER BY 1, 2 LIMIT 1)"
        )
    try:
        found = violations(loaded)
        assert "a transaction's taxes do not add up to its tax_total" in found
        assert "analytics.rollup_store_day_tax differs from a recomputation from the facts" in found
    finally:
        with psycopg.connect(loaded) as conn:
            conn.execute(
                "UPDATE transaction_taxes SET amount = amount - 0.01"
                " WHERE (transaction_id, tax_code) = (SELECT transaction_id, tax_code FROM transaction_taxes"
                " ORDER BY 1, 2 LIMIT 1)"
            )
    assert violations(loaded) == {}


def test_every_view_answers_and_agrees_with_the_reports(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        for view in VIEWS:
            conn.execute(f"SELECT * FROM analytics.{view} LIMIT 5").fetchall()  # type: ignore[arg-type]
        monthly = conn.execute(
            "SELECT to_char(month, 'YYYY-MM'), province, sales, zero_rated_sales, gst_hst_collected, "
            "provincial_tax_collected, rounding FROM analytics.tax_return_monthly ORDER BY 1, 2"
        ).fetchall()
        report = run_report(conn, "tax", Selection(by=Period.month)).rows
        daily = conn.execute(
            "SELECT local_date::text, store_id, sales, total, member_share FROM analytics.daily_store_sales "
            "ORDER BY 1, 2"
        ).fetchall()
        sales = run_report(conn, "sales", Selection(by=Period.day)).rows
        ranks = conn.execute(
            "SELECT count(*) FROM analytics.daily_product_sales WHERE rank_in_category = 1"
        ).fetchone()
    assert monthly == [
        (
            r["period"],
            r["province"],
            r["sales"],
            r["zero_rated_sales"],
            r["gst_hst_collected"],
            r["provincial_tax_collected"],
            r["rounding"],
        )
        for r in report
    ]
    assert daily == [(r["period"], r["store_id"], r["sales"], r["total"], r["member_share"]) for r in sales]
    assert ranks is not None and ranks[0] > 0


def test_migrating_a_loaded_warehouse_builds_the_layer_from_its_facts(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        before = run_report(conn, "tax", Selection(by=Period.day)).rows
        taxes = conn.execute("SELECT sum(amount), count(*) FROM transaction_taxes").fetchone()
    migrate.downgrade(loaded, "0003")
    with psycopg.connect(loaded) as conn:
        assert conn.execute("SELECT to_regclass('transaction_taxes')").fetchone() == (None,)
    migrate.upgrade(loaded)
    with psycopg.connect(loaded) as conn:
        assert conn.execute("SELECT sum(amount), count(*) FROM transaction_taxes").fetchone() == taxes
        assert run_report(conn, "tax", Selection(by=Period.day)).rows == before
    assert violations(loaded) == {}
    assert taxes is not None and taxes[0] > Decimal(0)
