"""Publishing with delivery reports: every message is acknowledged or counted as failed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from confluent_kafka import KafkaError, Message, Producer

from pos_pipeline.broker.config import make_client, producer_config
from pos_pipeline.errors import BrokerError, DeliveryError

log = logging.getLogger(__name__)


class Publisher:
    """A producer that tracks what the broker acknowledged."""

    def __init__(
        self,
        bootstrap: str,
        overrides: Mapping[str, str],
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.overrides = dict(overrides)
        self._on_failure = on_failure
        self._producer = make_client(Producer, producer_config(bootstrap, overrides))
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.first_error: str | None = None
        #: Per (topic, partition): the offset after the last message acknowledged.
        self.acknowledged: dict[tuple[str, int], int] = {}

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is not None and partition is not None and offset is not None:
                where = (topic, partition)
                if offset >= self.acknowledged.get(where, 0):
                    self.acknowledged[where] = offset + 1
        else:
            self.failed += 1
            if self._on_failure is not None:
                self._on_failure()
            if self.first_error is None:
                self.first_error = err.str()
            log.warning("delivery failed: %s", err.str())

    def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Queue one message, waiting for room when librdkafka's queue is full."""
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every queued message; raise DeliveryError if any was not acknowledged."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise BrokerError(
                f"{remaining} messages still unacknowledged after {timeout_s:.0f} s "
                f"(is the broker at {self.bootstrap} reachable?)"
            )
        if self.failed:
            raise DeliveryError(self.failed, self.sent, self.first_error or "unknown")
