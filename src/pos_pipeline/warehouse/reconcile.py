"""``pos check``: the warehouse's invariants, what was dead-lettered, and how far behind the loader is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from pos_pipeline.analytics import rollups
from pos_pipeline.broker.config import consumer_config, make_client
from pos_pipeline.errors import BrokerError

INVARIANTS = {
    "on_hand differs from the sum of its movements": """
        SELECT count(*) FROM inventory i
        FULL JOIN (SELECT store_id, sku, sum(quantity_delta) AS total
                   FROM inventory_movements GROUP BY store_id, sku) m USING (store_id, sku)
        WHERE i.on_hand IS DISTINCT FROM m.total""",
    "items do not add up to the transaction's subtotal": """
        SELECT count(*) FROM transactions t
        LEFT JOIN (SELECT transaction_id, sum(line_total) AS total FROM items_purchased
                   GROUP BY transaction_id) i USING (transaction_id)
        WHERE t.subtotal IS DISTINCT FROM i.total""",
    "stock on hand is negative": "SELECT count(*) FROM inventory WHERE on_hand < 0",
    "a transaction's total is not subtotal + tax + rounding": """
        SELECT count(*) FROM transactions WHERE total <> subtotal + tax_total + rounding""",
    "a transaction's taxes do not add up to its tax_total": """
        SELECT count(*) FROM transactions t
        LEFT JOIN (SELECT transaction_id, sum(amount) AS total FROM transaction_taxes
                   GROUP BY transaction_id) x USING (transaction_id)
        WHERE t.tax_total <> coalesce(x.total, 0)""",
}
READ_TIMEOUT_S = 10.0


@dataclass
class Report:
    """What ``pos check`` found."""

    violations: dict[str, int] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no invariant is violated."""
        return not any(self.violations.values())


def check_invariants(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """Rows violating each invariant of the warehouse, analytics rollups against the facts included.

    Runs in a transaction of its own: whatever ``conn`` had open is rolled back first.
    """
    found = {}
    conn.rollback()
    with conn.cursor() as cur:
        # One snapshot for every query: a loader committing meanwhile cannot make facts and
        # rollups look out of step.
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for name, query in INVARIANTS.items():
            cur.execute(query)
            row = cur.fetchone()
            found[name] = int(str(row[0])) if row else 0
        for table, count in rollups.mismatches(cur).items():
            found[f"{table} differs from a recomputation from the facts"] = count
    conn.rollback()
    return found


def dead_letters_by_reason(bootstrap: str, overrides: Mapping[str, str], dlq_topic: str) -> Counter[str]:
    """Count the dead-letter topic's messages by their ``error_class`` header."""
    consumer = make_client(Consumer, consumer_config(bootstrap, "pos-check", overrides))
    counts: Counter[str] = Counter()
    try:
        metadata = consumer.list_topics(dlq_topic, timeout=READ_TIMEOUT_S)
        topic = metadata.topics.get(dlq_topic)
        if topic is None or topic.error is not None:
            return counts
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(dlq_topic, p), timeout=READ_TIMEOUT_S)
            for p in topic.partitions
        }
        pending = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(dlq_topic, p, ends[p][0]) for p in pending])
        while pending:
            messages = consumer.consume(1000, READ_TIMEOUT_S)
            if not messages:
                raise BrokerError(f"reading {dlq_topic} stalled with {len(pending)} partitions unread")
            for msg in messages:
                if msg.error() is not None:
                    continue
                headers = dict(msg.headers() or [])
                reason = headers.get("error_class") or b"unknown"
                counts[reason.decode() if isinstance(reason, bytes) else str(reason)] += 1
                partition, offset = msg.partition(), msg.offset()
                if partition in pending and offset is not None and offset + 1 >= pending[partition]:
                    del pending[partition]
    except KafkaException as exc:
        raise BrokerError(f"cannot read {dlq_topic} at {bootstrap}: {exc.args[0].str()}") from None
    finally:
        consumer.close()
    return counts


def consumer_lag(
    bootstrap: str, overrides: Mapping[str, str], group: str, topics: list[str]
) -> dict[tuple[str, int], int]:
    """Messages not yet committed by ``group``, per (topic, partition)."""
    consumer = make_client(Consumer, consumer_config(bootstrap, group, overrides))
    lag = {}
    try:
        for name in topics:
            topic = consumer.list_topics(name, timeout=READ_TIMEOUT_S).topics.get(name)
            if topic is None or topic.error is not None:
                continue
            partitions = [TopicPartition(name, p) for p in sorted(topic.partitions)]
            for committed in consumer.committed(partitions, timeout=READ_TIMEOUT_S):
                low, high = consumer.get_watermark_offsets(committed, timeout=READ_TIMEOUT_S)
                position = committed.offset if committed.offset >= 0 else low
                lag[(name, committed.partition)] = max(high - position, 0)
    except KafkaException as exc:
        raise BrokerError(f"cannot read the offsets of group {group!r}: {exc.args[0].str()}") from None
    finally:
        consumer.close()
    return lag
