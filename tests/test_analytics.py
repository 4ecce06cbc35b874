"""Every report against an independent recomputation from the receipts read back off the topic.

One chain history goes through the real pipeline once for the module: the simulator publishes
18 weeks (December 2024 to April 2025: the GST/HST break and Nova Scotia's HST cut) with thin
shelves, so that stock runs out and deliveries come; ``pos consume`` loads it; kafka-python, a
client independent of the loader's, reads the topics back; and ``receipts_math`` recomputes each
report from that JSON alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from typer.testing import CliRunner

import receipts_math as m
from pos_cli import loader_env, pos_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.cli.common import state
from pos_pipeline.cli.main import app
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.run import KafkaSink
from pos_pipeline.warehouse.reconcile import check_invariants
from receipts_math import Ledger, Scope

START, DAYS, SCALE = date(2024, 12, 2), 130, 0.002
THIN = 40  # shelves a fortieth of the usual: stock-outs and deliveries within days
BREAK = Scope(date(2024, 12, 14), date(2025, 2, 15))
NS_CUT = Scope(date(2025, 3, 25), date(2025, 4, 7), province="NS")


@dataclass
class Chain:
    """The loaded warehouse, how to run ``pos`` against it, and what the topics carried."""

    url: str
    env: dict[str, str]
    home: Path
    receipts: list[dict[str, Any]]
    ledger: Ledger

    def report(self, *args: str) -> Any:
        """``pos report ARGS --format json``, parsed: the real command line, in this process.

        In-process saves a second of interpreter start-up a call; the subprocess path (exit codes,
        one-line errors on stderr) has its own tests below.
        """
        state.settings = None  # read again from this call's environment
        result = CliRunner().invoke(app, ["report", *args, "--format", "json"], env=self.env)
        assert result.exit_code == 0, result.output
        return orjson.loads(result.stdout_bytes)


def read_topic(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    """Every message of ``topic``, parsed, read with kafka-python until ``expected`` and a quiet spell."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        # Read on past ``expected`` until nothing comes for 3 s: a topic holding more would show.
        messages = [orjson.loads(record.value) for record in consumer]
    finally:
        consumer.close()
    assert len(messages) == expected, f"{topic}: read {len(messages)} messages, {expected} were published"
    return messages


def thin_shelves(simulator: ChainSimulator) -> dict[tuple[str, str], Decimal]:
    """Cut every store's stock to a fortieth, in whole units; the opening stock per (store, SKU)."""
    each = np.array([p.unit == "each" for p in simulator.products])
    opening = {}
    for store, stock in zip(simulator.stores, simulator.stock, strict=True):
        for levels in (stock.on_hand, stock.reorder_point, stock.order_up_to):
            levels //= THIN
            levels -= np.where(each, levels % 1000, 0)
        for product, millis in zip(simulator.products, stock.on_hand, strict=True):
            opening[(store.store_id, product.sku)] = Decimal(int(millis)) / 1000
    return opening


def open_with(url: str, opening: dict[tuple[str, str], Decimal]) -> None:
    """Give the warehouse the same opening stock as the simulator (ledger and on-hand alike)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE thin (store_id text, sku text, quantity numeric)")
        with cur.copy("COPY thin FROM STDIN") as copy:
            for (store_id, sku), quantity in opening.items():
                copy.write_row((store_id, sku, quantity))
        cur.execute(
            "UPDATE inventory_movements m SET quantity_delta = t.quantity FROM thin t"
            " WHERE m.reason = 'opening' AND (m.store_id, m.sku) = (t.store_id, t.sku)"
        )
        cur.execute(
            "UPDATE inventory i SET on_hand = t.quantity FROM thin t"
            " WHERE (i.store_id, i.sku) = (t.store_id, t.sku)"
        )


@pytest.fixture(scope="module")
def chain(embedded_server: Any, bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    url = embedded_server.create_database(template=embedded_server.template())
    topic = f"PointOfSale.analytics.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 3)
    simulator = ChainSimulator("analytics", SCALE)
    opening = thin_shelves(simulator)
    open_with(url, opening)
    sink = KafkaSink(Publisher(bootstrap, {}), topic, f"{topic}.inventory")
    sales = restocks = 0
    for offset in range(DAYS):
        day = simulator.day(START + timedelta(days=offset))
        sales, restocks = sales + len(day.values), restocks + len(day.restocks)
        sink.write_day(day)
    sink.close()

    home = tmp_path_factory.mktemp("analytics")
    env = loader_env(home, url, bootstrap, topic)
    consumed = run_pos(["consume", "--idle-exit", "3"], env, home, timeout=600)
    assert consumed.returncode == 0, consumed.stderr
    receipts = read_topic(bootstrap, topic, sales)
    deliveries = read_topic(bootstrap, f"{topic}.inventory", restocks)
    try:
        yield Chain(url, env, home, receipts, Ledger.of(opening, receipts, deliveries))
    finally:
        embedded_server.drop_database(url)


def test_the_history_is_what_the_windows_need(chain: Chain) -> None:
    with psycopg.connect(chain.url) as conn:
        row = conn.execute("SELECT count(*) FROM transactions").fetchone()
    assert row is not None and row[0] == len(chain.receipts) > 20_000
    ns_rates = {t["rate"] for r in NS_CUT.receipts(chain.receipts) for t in r["taxes"]}
    assert ns_rates == {"0.15", "0.14"}, "the NS window must hold receipts on both sides of the cut"
    assert any(m.stockouts(chain.ledger, Scope(), "all")), "thin shelves must run out"
    assert any(chain.ledger.moves[k][d] > 0 for k in chain.ledger.moves for d in chain.ledger.moves[k])


CASES: list[tuple[str, list[str], Callable[[Chain], list[dict[str, Any]]]]] = [
    ("tax", ["--by", "month"], lambda c: m.tax_return(c.receipts, Scope(), "month")),
    (
        "tax",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--by", "quarter"],
        lambda c: m.tax_return(c.receipts, BREAK, "quarter"),
    ),
    (
        "tax",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--by", "day", "--province", "ON"],
        lambda c: m.tax_return(c.receipts, Scope(BREAK.start, BREAK.end, "ON"), "day"),
    ),
    (
        "tax",
        ["--from", "2025-03-25", "--to", "2025-04-07", "--province", "NS", "--by", "day"],
        lambda c: m.tax_return(c.receipts, NS_CUT, "day"),
    ),
    ("tax", ["--by", "year"], lambda c: m.tax_return(c.receipts, Scope(), "year")),
    (
        "sales",
        ["--from", "2025-03-25", "--to", "2025-04-07", "--province", "NS"],
        lambda c: m.sales(c.receipts, NS_CUT, "day"),
    ),
    (
        "sales",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--by", "week"],
        lambda c: m.sales(c.receipts, BREAK, "week"),
    ),
    (
        "products",
        ["--by", "month", "--store", "S020"],
        lambda c: m.product_sales(c.receipts, Scope(store="S020"), "month"),
    ),
    (
        "products",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--by", "all"],
        lambda c: m.product_sales(c.receipts, BREAK, "all"),
    ),
    ("traffic", [], lambda c: m.traffic(c.receipts, Scope())),
    (
        "traffic",
        ["--province", "QC", "--from", "2025-01-01"],
        lambda c: m.traffic(c.receipts, Scope(date(2025, 1, 1), province="QC")),
    ),
    ("baskets", [], lambda c: m.baskets(c.receipts, Scope())),
    (
        "basket-values",
        ["--from", "2024-12-14", "--to", "2025-02-15"],
        lambda c: m.basket_values(c.receipts, BREAK),
    ),
    ("payments", [], lambda c: m.payments(c.receipts, Scope(), "month")),
    (
        "payments",
        ["--by", "quarter", "--province", "BC"],
        lambda c: m.payments(c.receipts, Scope(province="BC"), "quarter"),
    ),
    ("promotions", [], lambda c: m.promotions(c.receipts, Scope())),
    (
        "promotions",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--province", "ON"],
        lambda c: m.promotions(c.receipts, Scope(BREAK.start, BREAK.end, "ON")),
    ),
    (
        "stock",
        ["--province", "NS"],
        lambda c: m.stock(c.ledger, c.receipts, Scope(province="NS"), max(map(m.local_date, c.receipts))),
    ),
    (
        "stock",
        ["--store", "S030"],
        lambda c: m.stock(c.ledger, c.receipts, Scope(store="S030"), max(map(m.local_date, c.receipts))),
    ),
    ("out-of-stock", [], lambda c: m.out_of_stock(c.ledger, Scope())),
    ("stockouts", ["--by", "week"], lambda c: m.stockouts(c.ledger, Scope(), "week")),
    (
        "stockouts",
        ["--from", "2024-12-14", "--to", "2025-02-15", "--store", "S020"],
        lambda c: m.stockouts(c.ledger, Scope(BREAK.start, BREAK.end, store="S020"), "day"),
    ),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES, ids=[f"{n} {' '.join(a)}" for n, a, _ in CASES])
def test_report_equals_the_receipts(
    chain: Chain, name: str, args: list[str], expected: Callable[[Chain], list[dict[str, Any]]]
) -> None:
    want = expected(chain)
    assert want, f"the case must cover data: {name} {args}"
    got = chain.report(name, *args)
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        assert mine == theirs


def test_all_in_json_is_every_report(chain: Chain) -> None:
    everything = chain.report("all", "--province", "NS")
    assert set(everything) == {
        "sales",
        "products",
        "traffic",
        "baskets",
        "basket-values",
        "payments",
        "promotions",
        "stock",
        "out-of-stock",
        "stockouts",
        "tax",
    }
    assert everything["tax"] == m.tax_return(chain.receipts, Scope(province="NS"), "month")
    assert everything["baskets"] == m.baskets(chain.receipts, Scope(province="NS"))


def test_an_empty_period_is_an_empty_report(chain: Chain) -> None:
    assert chain.report("tax", "--from", "2030-01-01", "--to", "2030-01-31") == []


def test_csv_money_is_exact(chain: Chain) -> None:
    result = run_pos(["report", "tax", "--by", "year", "--format", "csv"], chain.env, chain.home)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split(",")[:4] == ["period", "province", "transactions", "sales"]
    want = m.tax_return(chain.receipts, Scope(), "year")
    assert [line.split(",")[3] for line in lines] == [row["sales"] for row in want]


def test_the_warehouse_fed_through_kafka_holds_every_invariant(chain: Chain) -> None:
    """Sales and deliveries came on two topics, in whatever order: the daily stock still settles."""
    with psycopg.connect(chain.url) as conn:
        assert {name: n for name, n in check_invariants(conn).items() if n} == {}


def test_all_by_week_groups_the_reports_with_periods_and_keeps_the_others(chain: Chain) -> None:
    everything = chain.report("all", "--by", "week", "--store", "S020")
    assert len(everything) == 11
    assert everything["tax"] == m.tax_return(chain.receipts, Scope(store="S020"), "week")
    assert everything["traffic"] == m.traffic(chain.receipts, Scope(store="S020"))


BAD = [
    (["nope"], "no report 'nope'"),
    (["tax", "--from", "2025-13-01"], "--from '2025-13-01' is not a date"),
    (["tax", "--from", "2025-03-01", "--to", "2025-02-01"], "--from 2025-03-01 is after --to 2025-02-01"),
    (["tax", "--province", "ZZ"], "no store in province 'ZZ'"),
    (["tax", "--store", "S999"], "no store 'S999'"),
    (["tax", "--store", "S001", "--province", "ON"], "store S001 is in AB, not ON"),
    (["traffic", "--by", "month"], "--by does not apply to the traffic report"),
    (["stock", "--to", "2025-01-01"], "--to does not apply to the stock report"),
    (["all", "--format", "csv"], "CSV holds one report"),
    (["tax", "--by", "fortnight"], "fortnight"),
    (["tax", "--output", "/nonexistent/dir/tax.txt"], "cannot write /nonexistent/dir/tax.txt"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_1(chain: Chain, args: list[str], message: str) -> None:
    result = run_pos(["report", *args], chain.env, chain.home)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_or_unmigrated_warehouse_is_one_line_and_exit_1(
    warehouse_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    for url, message in (
        (warehouse_url, "the warehouse has no transactions yet"),
        (empty_database_url, "has no warehouse schema"),
    ):
        result = run_pos(["report", "tax"], pos_env(tmp_path, POS_DATABASE_URL=url), tmp_path)
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
