"""Simulate → Kafka → PostgreSQL through the real broker and the real databases."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import orjson
import psycopg
from confluent_kafka import Consumer

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, run_simulation
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor
from pos_pipeline.warehouse.reconcile import check_invariants

START = date(2025, 3, 28)  # crosses Nova Scotia's HST change on 2025-04-01 with --days 7


def publish(bootstrap: str, topic: str, count: int, seed: int = 3) -> list[dict[str, object]]:
    """Publish ``count`` simulated transactions; return them as parsed objects."""
    ensure_topics(bootstrap, {}, [topic, f"{topic}.dlq"], 3)
    sent: list[dict[str, object]] = []

    class Recording(KafkaSink):
        def write_day(self, batch):  # type: ignore[no-untyped-def]
            sent.extend(orjson.loads(value) for value in batch.values)
            super().write_day(batch)

    run_simulation(
        SimulationOptions(seed=seed, count=count, start=START, scale=0.05),
        Recording(Publisher(bootstrap, {}), topic),
    )
    return sent


def ingest(url: str, bootstrap: str, topic: str, group: str = "g1", **options: object) -> Ingestor:
    ingestor = Ingestor(
        url,
        bootstrap,
        topic,
        f"{topic}.dlq",
        {},
        IngestOptions(group=group, idle_exit_s=2.0, **options),
    )  # type: ignore[arg-type]
    ingestor.run()
    return ingestor


def scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def assert_ledger_balances(url: str) -> None:
    mismatches = scalar(
        url,
        """
        SELECT count(*) FROM inventory i
        LEFT JOIN (SELECT store_id, sku, sum(quantity_delta) AS total FROM inventory_ledger
                   GROUP BY store_id, sku) m USING (store_id, sku)
        WHERE i.on_hand IS DISTINCT FROM m.total""",
    )
    assert mismatches == 0


def test_every_published_transaction_lands_once_with_its_items(
    warehouse_url: str, bootstrap: str, topic: str
) -> None:
    sent = publish(bootstrap, topic, 1500)
    stats = ingest(warehouse_url, bootstrap, topic).stats
    assert (stats.consumed, stats.loaded, stats.dead_letters) == (1500, 1500, 0)

    assert scalar(warehouse_url, "SELECT count(DISTINCT transaction_id) FROM transactions") == 1500
    lines = sum(len(tx["items"]) for tx in sent)  # type: ignore[arg-type]
    assert scalar(warehouse_url, "SELECT count(*) FROM items_purchased") == lines
    assert scalar(warehouse_url, "SELECT count(*) FROM inventory_ledger WHERE reason = 'sale'") == lines
    money = sum(Decimal(str(tx["total"])) for tx in sent)
    assert scalar(warehouse_url, "SELECT sum(total) FROM transactions") == money
    assert (
        scalar(
            warehouse_url,
            """
        SELECT count(*) FROM transactions t
        WHERE t.subtotal <> (SELECT sum(line_total) FROM items_purchased i
                             WHERE i.transaction_id = t.transaction_id)""",
        )
        == 0
    )
    assert scalar(warehouse_url, "SELECT count(*) FROM transactions WHERE published_at IS NULL") == 0
    assert_ledger_balances(warehouse_url)


def test_a_full_replay_changes_nothing(warehouse_url: str, bootstrap: str, topic: str) -> None:
    publish(bootstrap, topic, 600)
    ingest(warehouse_url, bootstrap, topic, group="first")
    before = scalar(warehouse_url, "SELECT sum(on_hand) FROM inventory")
    replay = ingest(warehouse_url, bootstrap, topic, group="second").stats  # a new group reads it all again
    assert (replay.consumed, replay.loaded, replay.duplicates) == (600, 0, 600)
    assert scalar(warehouse_url, "SELECT count(*) FROM transactions") == 600
    assert scalar(warehouse_url, "SELECT sum(on_hand) FROM inventory") == before
    assert_ledger_balances(warehouse_url)
    with psycopg.connect(warehouse_url) as conn:
        assert not any(check_invariants(conn).values()), "a replay must leave the analytics rollups exact"


def test_offsets_are_committed_after_loading(warehouse_url: str, bootstrap: str, topic: str) -> None:
    publish(bootstrap, topic, 300)
    first = ingest(warehouse_url, bootstrap, topic, group="same", max_messages=120).stats
    assert first.consumed == 120
    rest = ingest(warehouse_url, bootstrap, topic, group="same").stats
    assert rest.consumed == 180
    assert scalar(warehouse_url, "SELECT count(*) FROM transactions") == 300


def test_a_consumer_stopped_while_joining_leaves_its_group_usable(
    warehouse_url: str, bootstrap: str, topic: str
) -> None:
    publish(bootstrap, topic, 50)
    quitter = Ingestor(warehouse_url, bootstrap, topic, f"{topic}.dlq", {}, IngestOptions(group="joining"))
    # As a SIGTERM a second after start: the group's join (about 3 s here) is still in flight.
    threading.Timer(1.0, quitter.stop.set).start()
    first = quitter.run().loaded
    # Had it left in the middle of its join, the embedded broker would never assign this one.
    assert first + ingest(warehouse_url, bootstrap, topic, group="joining").stats.loaded == 50


def test_bad_messages_go_to_the_dead_letter_topic(warehouse_url: str, bootstrap: str, topic: str) -> None:
    publish(bootstrap, topic, 50)
    publisher = Publisher(bootstrap, {})
    publisher.publish(topic, b"S001", b"\xff\xfe not json")
    publisher.publish(topic, b"S001", b'{"schema_version": 99}')
    publisher.flush()
    stats = ingest(warehouse_url, bootstrap, topic).stats
    assert (stats.loaded, stats.dead_letters) == (50, 2)

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "dlq-reader",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": "6000",
        }
    )
    consumer.subscribe([f"{topic}.dlq"])
    letters = []
    for _ in range(60):
        letters += [m for m in consumer.consume(10, 0.5) if m.error() is None]
        if len(letters) >= 2:
            break
    consumer.close()
    assert len(letters) == 2
    by_class = {dict(m.headers())["error_class"]: m for m in letters}
    assert set(by_class) == {b"undecodable", b"unsupported_schema_version"}
    bad = by_class[b"undecodable"]
    assert bad.value() == b"\xff\xfe not json"
    assert bad.key() == b"S001"
    headers = dict(bad.headers())
    assert headers["source_topic"] == topic.encode()
    assert int(headers["source_offset"]) >= 0
    assert headers["reason"]
