"""Where topics end, and reading what was appended since: how a producer learns what landed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from pos_pipeline.broker.config import consumer_config, make_client
from pos_pipeline.errors import BrokerError

READ_TIMEOUT_S = 10.0
POLL_S = 0.2
# Reading assigns partitions and never commits: the group only names the client to the broker.
READER_GROUP = "pos-topic-tail-reader"

#: Per topic, per partition (as text, to survive JSON): an offset.
Offsets = dict[str, dict[str, int]]


def _client(bootstrap: str, overrides: Mapping[str, str]) -> Consumer:
    return make_client(Consumer, consumer_config(bootstrap, READER_GROUP, overrides))


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=READ_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return []
    return sorted(metadata.partitions)


def end_offsets(bootstrap: str, overrides: Mapping[str, str], topics: list[str]) -> Offsets:
    """Each partition's listed end: the next offset, or less (Tansu 0.6), never more."""
    consumer = _client(bootstrap, overrides)
    try:
        return {
            topic: {
                str(p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=READ_TIMEOUT_S)[1]
                for p in _partitions(consumer, topic)
            }
            for topic in topics
        }
    except KafkaException as exc:
        raise BrokerError(
            f"cannot read the end offsets of {', '.join(topics)}: {exc.args[0].str()}"
        ) from None
    finally:
        consumer.close()


def read_since(
    bootstrap: str, overrides: Mapping[str, str], since: Offsets, visit: Callable[[Message], None]
) -> int:
    """Hand ``visit`` every message from ``since`` up to the end of each partition; return the count.

    The end is the high watermark that fetching reports, not the listed one: Tansu 0.6 lists the
    start of a partition's last batch as its end, which would miss that whole batch (and it is
    slow to signal end-of-partition). Partitions missing from ``since`` are read from their start.
    """
    # A short-lived read of a bounded tail: librdkafka's default prefetch reads it several times faster.
    fast = {"queued.min.messages": 100_000, "queued.max.messages.kbytes": 65_536}
    consumer = make_client(Consumer, {**consumer_config(bootstrap, READER_GROUP, overrides), **fast})
    read = 0
    try:
        assignment = [
            TopicPartition(topic, p, starts.get(str(p), OFFSET_BEGINNING))
            for topic, starts in since.items()
            for p in _partitions(consumer, topic)
        ]
        if not assignment:
            return 0
        consumer.assign(assignment)
        position = {(tp.topic, tp.partition): tp.offset for tp in assignment}
        pending = set(position)
        progress = time.monotonic()
        while pending:
            for msg in consumer.consume(1000, POLL_S):
                name, partition, offset = msg.topic(), msg.partition(), msg.offset()
                if msg.error() is not None or name is None or partition is None or offset is None:
                    continue
                position[(name, partition)] = offset + 1
                visit(msg)
                read += 1
                progress = time.monotonic()
            for name, partition in list(pending):
                high = consumer.get_watermark_offsets(TopicPartition(name, partition), cached=True)[1]
                if high >= 0 and position[(name, partition)] >= high:
                    pending.discard((name, partition))
            if pending and time.monotonic() - progress > READ_TIMEOUT_S:
                raise BrokerError(f"reading {len(pending)} partitions of {', '.join(since)} stalled")
    except KafkaException as exc:
        raise BrokerError(f"cannot read {', '.join(since)} at {bootstrap}: {exc.args[0].str()}") from None
    finally:
        consumer.close()
    return read
