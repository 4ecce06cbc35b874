"""Restock events: from the simulator's stock, through Kafka, into the warehouse's ledger."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import orjson
import psycopg

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.simulate.engine import ChainSimulator, Event
from pos_pipeline.simulate.run import KafkaSink
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_restocks_flow_through_kafka_into_the_ledger(warehouse_url: str, bootstrap: str, topic: str) -> None:
    inventory_topic = f"{topic}.inventory"
    ensure_topics(bootstrap, {}, [topic, inventory_topic, f"{topic}.dlq"], 3)
    simulator = ChainSimulator("restocks", 0.05)
    for stock in simulator.stock:  # thin shelves, so that deliveries come within days
        stock.on_hand //= 40
    sink = KafkaSink(Publisher(bootstrap, {}), topic, inventory_topic)
    restocks: list[Event] = []
    sales = 0
    for offset in range(4):
        batch = simulator.day(date(2025, 5, 5) + timedelta(days=offset))
        restocks += batch.restocks
        sales += len(batch.values)
        sink.write_day(batch)
    sink.close()
    assert restocks, "thin shelves must trigger deliveries"

    def consume(group: str) -> Ingestor:
        ingestor = Ingestor(
            warehouse_url,
            bootstrap,
            topic,
            f"{topic}.dlq",
            {},
            IngestOptions(group=group, idle_exit_s=2.0),
            inventory_topic=inventory_topic,
        )
        ingestor.run()
        return ingestor

    stats = consume("loader").stats
    assert (stats.loaded, stats.restocks, stats.dead_letters) == (sales, len(restocks), 0)

    expected_lines = sum(len(orjson.loads(r.value)["lines"]) for r in restocks)
    expected_units = sum(
        Decimal(line["quantity"]) for r in restocks for line in orjson.loads(r.value)["lines"]
    )
    assert rows(warehouse_url, "SELECT count(*) FROM restocks") == [(len(restocks),)]
    assert rows(
        warehouse_url,
        "SELECT count(*), sum(quantity_delta) FROM inventory_movements WHERE reason = 'restock'",
    ) == [(expected_lines, expected_units)]
    ledger_mismatches = """
        SELECT count(*) FROM inventory i
        JOIN (SELECT store_id, sku, sum(quantity_delta) AS total FROM inventory_ledger
              GROUP BY store_id, sku) m USING (store_id, sku)
        WHERE i.on_hand <> m.total"""
    assert rows(warehouse_url, ledger_mismatches) == [(0,)]
    assert rows(warehouse_url, "SELECT count(*) FROM inventory WHERE on_hand < 0") == [(0,)]

    replay = consume("replayer").stats  # a new group reads both topics again: nothing changes
    assert (replay.loaded, replay.restocks) == (0, 0)
    assert rows(warehouse_url, "SELECT count(*) FROM restocks") == [(len(restocks),)]
    assert rows(warehouse_url, ledger_mismatches) == [(0,)]
