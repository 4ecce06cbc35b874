"""How far a consumer group is behind, read from the outside (no group membership needed)."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pos_pipeline.broker.config import consumer_config, make_client
from pos_pipeline.errors import BrokerError

READ_TIMEOUT_S = 10.0


class GroupLag:
    """Reads a group's committed offsets and the topics' high watermarks; reusable, close when done.

    It never subscribes, so it never joins the group nor moves its offsets.
    """

    def __init__(
        self, bootstrap: str, overrides: Mapping[str, str], group: str, timeout_s: float = READ_TIMEOUT_S
    ) -> None:
        self.group = group
        self._timeout = timeout_s
        self._consumer = make_client(Consumer, consumer_config(bootstrap, group, overrides))

    def read(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """Messages not yet committed by the group, per (topic, partition) of the topics that exist."""
        consumer, timeout = self._consumer, self._timeout
        lag = {}
        try:
            for name in topics:
                topic = consumer.list_topics(name, timeout=timeout).topics.get(name)
                if topic is None or topic.error is not None:
                    continue
                partitions = [TopicPartition(name, p) for p in sorted(topic.partitions)]
                for committed in consumer.committed(partitions, timeout=timeout):
                    low, high = consumer.get_watermark_offsets(committed, timeout=timeout)
                    position = committed.offset if committed.offset >= 0 else low
                    lag[(name, committed.partition)] = max(high - position, 0)
        except KafkaException as exc:
            raise BrokerError(
                f"cannot read the offsets of group {self.group!r}: {exc.args[0].str()}"
            ) from None
        return lag

    def close(self) -> None:
        """Release the client."""
        self._consumer.close()


def consumer_lag(
    bootstrap: str, overrides: Mapping[str, str], group: str, topics: list[str]
) -> dict[tuple[str, int], int]:
    """Messages not yet committed by ``group``, per (topic, partition)."""
    reader = GroupLag(bootstrap, overrides, group)
    try:
        return reader.read(topics)
    finally:
        reader.close()
