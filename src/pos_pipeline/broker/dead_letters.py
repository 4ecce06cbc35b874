"""Counting the dead-letter topic's messages by error class, once or as they keep coming."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from pos_pipeline.broker.config import consumer_config, make_client
from pos_pipeline.contract.dead_letter import ERROR_CLASS
from pos_pipeline.errors import BrokerError

READ_TIMEOUT_S = 10.0
# Reading never commits, so the group only names the client to the broker.
READER_GROUP = "pos-dead-letter-reader"


class DeadLetterTally:
    """Counts of the dead-letter topic by ``error_class`` header, kept up to date by ``catch_up``."""

    def __init__(
        self, bootstrap: str, overrides: Mapping[str, str], topic: str, timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self.topic = topic
        self.counts: Counter[str] = Counter()
        self._bootstrap = bootstrap
        self._timeout = timeout_s
        self._consumer = make_client(Consumer, consumer_config(bootstrap, READER_GROUP, overrides))
        self._assigned: set[int] = set()
        self._next: dict[int, int] = {}

    def catch_up(self) -> Counter[str]:
        """Read every message up to the topic's current end; return the counts so far."""
        consumer, timeout = self._consumer, self._timeout
        try:
            metadata = consumer.list_topics(self.topic, timeout=timeout).topics.get(self.topic)
            if metadata is None or metadata.error is not None:
                return self.counts
            new = set(metadata.partitions) - self._assigned
            if new:
                consumer.incremental_assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in new])
                self._assigned |= new
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=timeout)[1]
                for p in self._assigned
            }
            pending = {p: end for p, end in ends.items() if self._next.get(p, 0) < end}
            while pending:
                messages = consumer.consume(1000, timeout)
                if not messages:
                    raise BrokerError(f"reading {self.topic} stalled with {len(pending)} partitions unread")
                for msg in messages:
                    if msg.error() is not None:
                        continue
                    headers = dict(msg.headers() or [])
                    reason = headers.get(ERROR_CLASS) or b"unknown"
                    self.counts[reason.decode() if isinstance(reason, bytes) else str(reason)] += 1
                    partition, offset = msg.partition(), msg.offset()
                    if partition is None or offset is None:
                        continue
                    self._next[partition] = offset + 1
                    if partition in pending and offset + 1 >= pending[partition]:
                        del pending[partition]
        except KafkaException as exc:
            raise BrokerError(f"cannot read {self.topic} at {self._bootstrap}: {exc.args[0].str()}") from None
        return self.counts

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()


def dead_letters_by_reason(bootstrap: str, overrides: Mapping[str, str], dlq_topic: str) -> Counter[str]:
    """Count the dead-letter topic's messages by their ``error_class`` header."""
    tally = DeadLetterTally(bootstrap, overrides, dlq_topic)
    try:
        return tally.catch_up()
    finally:
        tally.close()
