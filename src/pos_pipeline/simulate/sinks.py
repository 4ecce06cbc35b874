"""Where a run's events go: JSON lines on streams, or two Kafka topics keyed by store."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from pos_pipeline.contract.schema import RUN_ID_HEADER
from pos_pipeline.simulate.batch import TRANSACTION, DayBatch, Event

if TYPE_CHECKING:  # the Kafka client is imported only by the runs that publish
    from confluent_kafka import Message

    from pos_pipeline.broker.producer import Publisher
    from pos_pipeline.broker.topic_tail import Offsets

CHUNK = 10_000
RUN_HEADER = RUN_ID_HEADER


class Sink:
    """Where events go; a run checkpoints through it, and asks it what landed after a crash."""

    #: What `pos simulate` calls this output in its state file.
    kind = "sink"

    def topics(self) -> list[str]:
        """The topics written to (none for files)."""
        return []

    def label(self, run_id: str) -> None:
        """Mark what follows as the run ``run_id``'s, where the output can carry that."""

    def write_day(self, batch: DayBatch) -> None:
        """Accept a day's events (or a part of it)."""
        raise NotImplementedError

    def write_event(self, event: Event) -> None:
        """Accept one event (paced runs)."""
        raise NotImplementedError

    def checkpoint(self) -> Offsets | None:
        """Make everything accepted so far durable; where the topics end now, if there are topics."""
        return None

    def landed_since(self, offsets: Offsets, visit: Callable[[bytes], None]) -> bool:
        """Hand ``visit`` every message body appended since ``offsets``; False if this output cannot tell."""
        return False

    def close(self) -> None:
        """Flush and release; raise if anything was not delivered."""


class JsonLinesSink(Sink):
    """Transactions as JSON lines to one stream, restocks (optionally) to another."""

    kind = "jsonl"

    def __init__(self, stream: IO[bytes], inventory: IO[bytes] | None = None) -> None:
        self.stream = stream
        self.inventory = inventory

    def write_day(self, batch: DayBatch) -> None:
        """Write each event's body and a newline to its stream."""
        lines = batch.lines()
        if lines is not None:
            self.stream.write(lines)  # already one buffer of lines: written as it is
        else:
            self._write_values(batch.values)
        if self.inventory is not None and batch.restocks:
            self.inventory.write(b"".join(r.value + b"\n" for r in batch.restocks))

    def _write_values(self, values: list[bytes]) -> None:
        for start in range(0, len(values), CHUNK):
            self.stream.write(b"\n".join(values[start : start + CHUNK]) + b"\n")

    def write_event(self, event: Event) -> None:
        """Write one event's body and a newline to its stream."""
        if event.kind == TRANSACTION:
            self.stream.write(event.value + b"\n")
        elif self.inventory is not None:
            self.inventory.write(event.value + b"\n")

    def checkpoint(self) -> Offsets | None:
        """Flush the streams."""
        self.close()
        return None

    def close(self) -> None:
        """Flush the streams."""
        self.stream.flush()
        if self.inventory is not None:
            self.inventory.flush()


class KafkaSink(Sink):
    """Transactions to one topic and restocks to another, keyed by store."""

    kind = "kafka"

    def __init__(self, publisher: Publisher, topic: str, inventory_topic: str | None = None) -> None:
        self.publisher = publisher
        self.topic = topic
        self.inventory_topic = inventory_topic
        self.run_id: bytes | None = None
        self._headers: list[tuple[str, str | bytes | None]] | None = None

    def label(self, run_id: str) -> None:
        """Every message gets a ``pos_run_id`` header: after a crash, the run finds its own messages."""
        self.run_id = run_id.encode()
        self._headers = [(RUN_HEADER, self.run_id)]

    def topics(self) -> list[str]:
        """The transaction topic, and the restock topic if restocks are published."""
        return [self.topic] + ([self.inventory_topic] if self.inventory_topic else [])

    def write_day(self, batch: DayBatch) -> None:
        """Queue the events for delivery, in time order (a restock before checkouts at its instant).

        So the sequence of messages is the same however the day is cut into batches.
        """
        publish, topic, headers = self.publisher.publish, self.topic, self._headers
        keys, values, instants = batch.keys, batch.values, batch.utc_ms
        done, inventory = 0, self.inventory_topic
        for restock in batch.restocks:
            if inventory is None:
                break
            due = bisect_left(instants, restock.utc_ms, done)
            for key, value in zip(keys[done:due], values[done:due], strict=True):
                publish(topic, key, value, headers)
            done = due
            publish(inventory, restock.key, restock.value, headers)
        for key, value in zip(keys[done:], values[done:], strict=True):
            publish(topic, key, value, headers)

    def write_event(self, event: Event) -> None:
        """Queue one event for delivery."""
        topic = self.topic if event.kind == TRANSACTION else self.inventory_topic
        if topic is not None:
            self.publisher.publish(topic, event.key, event.value, self._headers)

    def checkpoint(self) -> Offsets | None:
        """Wait for every delivery report, then read where the topics end."""
        from pos_pipeline.broker.topic_tail import end_offsets

        self.publisher.flush()
        ends = end_offsets(self.publisher.bootstrap, self.publisher.overrides, self.topics())
        # The listed end can lag (see topic_tail); what was acknowledged to us is exact.
        for (topic, partition), after in self.publisher.acknowledged.items():
            if topic in ends:
                ends[topic][str(partition)] = max(ends[topic].get(str(partition), 0), after)
        return ends

    def landed_since(self, offsets: Offsets, visit: Callable[[bytes], None]) -> bool:
        """Read this run's messages on the topics from ``offsets`` to their ends."""
        from pos_pipeline.broker.topic_tail import read_since

        since = {t: offsets.get(t, {}) for t in self.topics()}

        def ours(message: Message) -> None:
            if (RUN_HEADER, self.run_id) in (message.headers() or []):
                visit(message.value() or b"")

        read_since(self.publisher.bootstrap, self.publisher.overrides, since, ours)
        return True

    def close(self) -> None:
        """Wait for every delivery report."""
        self.publisher.flush()
