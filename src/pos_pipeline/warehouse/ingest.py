"""The consume loop: the one place where Kafka offsets and database commits meet.

Order of work per batch, which is what makes results effectively-once:
1. poll messages, up to ``batch_size`` a batch;
2. decode, then check each; rejected ones are dead letters (original bytes, key and reasons);
3. load the good ones in ONE database transaction (idempotent by transaction id)
   and commit it (in the loading thread, while the next batch is read: ``handoff``);
4. wait until the dead-letter topic has acknowledged this batch's rejects;
5. only then commit the batch's Kafka offsets.
A crash anywhere replays the batch from the last committed offsets; replays are
skipped by the primary key, so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pos_pipeline.broker.config import consumer_config, make_client
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import mask_url
from pos_pipeline.contract.dead_letter import dead_letter
from pos_pipeline.contract.restock import check_restock
from pos_pipeline.contract.validate import KnownEntities, Rejection, decode
from pos_pipeline.errors import BrokerError, DatabaseError
from pos_pipeline.metrics.consumer import DEAD_LETTER, DUPLICATE, LOADED, ConsumerMetrics
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.signals import stop_on_signals
from pos_pipeline.warehouse.checked_receipt import CheckedReceipt, ReceiptChecker
from pos_pipeline.warehouse.db import connect, first_line
from pos_pipeline.warehouse.handoff import CheckedBatch, LoadAbandoned, LoadQueue
from pos_pipeline.warehouse.loader import BatchLoader, LoadResult
from pos_pipeline.warehouse.migrate import require_current_schema
from pos_pipeline.warehouse.restock_loader import IncomingRestock

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0
JOIN_TIMEOUT_S = 60.0
# How long a consumer stopped while joining its group waits for the join to finish before it leaves.
LEAVE_AFTER_JOIN_S = 15.0
# How often the lag is refreshed while nothing arrives (after every batch otherwise).
LAG_REFRESH_S = 1.0


@dataclass(slots=True)
class IngestOptions:
    """How to consume: see ``pos consume --help``."""

    group: str = "pos-warehouse"
    batch_size: int = 25_000
    # How long a poll waits for a first message before the consumer checks for idleness.
    poll_timeout_s: float = 0.1
    idle_exit_s: float | None = None
    max_messages: int | None = None


@dataclass(slots=True)
class IngestStats:
    """Running totals, readable from another thread for a live view."""

    consumed: int = 0
    loaded: int = 0
    duplicates: int = 0
    restocks: int = 0
    dead_letters: int = 0
    batches: int = 0
    positions: dict[int, int] = field(default_factory=dict)
    #: Per assigned (topic, partition): messages not yet read, as the broker last told this consumer.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int | None:
        """Messages not yet read on the assigned partitions; None before the first measurement."""
        return sum(self.lag.values()) if self.lag else None


def tune_gc_for_loading() -> None:
    """Make the cyclic garbage collector rare in a loading process.

    Checking a receipt allocates a dozen short-lived containers and keeps a batch of them alive,
    so at Python's default thresholds the collector runs every few dozen receipts and keeps
    rescanning the batch: it took as long as the checking itself. Nothing on the hot path makes
    reference cycles (reference counting frees it all), so collections can be rare; what was
    allocated before (reference data, modules) is frozen out of them altogether.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def known_entities(conn: psycopg.Connection[tuple[object, ...]]) -> KnownEntities:
    """Stores, products and members as the warehouse knows them."""
    with conn.cursor() as cur:
        cur.execute("SELECT store_id, province FROM stores")
        stores = {str(r[0]): str(r[1]) for r in cur.fetchall()}
        cur.execute("SELECT sku, category, unit FROM products")
        products = {str(r[0]): (str(r[1]), str(r[2])) for r in cur.fetchall()}
        cur.execute("SELECT customer_id FROM customers")
        customers = frozenset(str(r[0]) for r in cur.fetchall())
    conn.commit()
    return KnownEntities(stores, products, customers)


def _published_at(msg: Message) -> datetime | None:
    kind, millis = msg.timestamp()
    if kind == 0 or millis < 0:  # TIMESTAMP_NOT_AVAILABLE
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


class Ingestor:
    """Reads the topic in a consumer group and loads the warehouse."""

    def __init__(
        self,
        database_url: str,
        bootstrap: str,
        topic: str,
        dlq_topic: str,
        kafka_overrides: Mapping[str, str],
        options: IngestOptions,
        inventory_topic: str | None = None,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self.database_url = database_url
        self.topic = topic
        self.inventory_topic = inventory_topic
        self.dlq_topic = dlq_topic
        self.options = options
        self.stats = IngestStats()
        self.metrics = metrics or ConsumerMetrics()
        self.metrics.topics([topic] + ([inventory_topic] if inventory_topic else []))
        self.stop = threading.Event()
        require_current_schema(database_url)
        self._conn = connect(database_url)
        self._loader = BatchLoader(self._conn)
        self._known = known_entities(self._conn)
        self._checker = ReceiptChecker(self._known, tax_table())
        self._dlq = Publisher(bootstrap, kafka_overrides)
        self._consumer = make_client(Consumer, consumer_config(bootstrap, options.group, kafka_overrides))
        self._last_activity = time.monotonic()
        self._lag_measured = 0.0
        self._assigned = False
        self._joining = False  # in the group's join: subscribed or revoked, no assignment yet
        self._read = 0
        self._queue = LoadQueue(self._load)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = True
        self._joining = False
        self._last_activity = time.monotonic()
        self.metrics.rebalances.inc()
        log.info("assigned partitions %s", sorted(p.partition for p in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # What was read loads and commits its offsets before the partitions go to another member.
        self._queue.drain()
        with contextlib.suppress(LoadAbandoned):
            self._commit_loaded()
        # Until partitions come back (a rebalance, a rejoin after a broker stall) the consumer is
        # not idle, it is waiting: --idle-exit must not end it.
        self._assigned = False
        self._joining = True
        self._last_activity = time.monotonic()
        log.info("partitions revoked %s", sorted(p.partition for p in partitions))

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM finish the current batch, commit, and stop."""
        stop_on_signals(self.stop)

    def run(self, on_batch: Callable[[IngestStats], None] | None = None) -> IngestStats:
        """Consume until stopped, idle for ``idle_exit_s``, or ``max_messages`` are read."""
        topics = [self.topic] + ([self.inventory_topic] if self.inventory_topic else [])
        self._consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        self._joining = True
        try:
            while not self.stop.is_set():
                if not self._commit_loaded(on_batch):
                    return self.stats
                room = self.options.batch_size - self._queue.filling
                if self.options.max_messages is not None:
                    left = self.options.max_messages - self._read
                    if left <= 0:
                        break
                    room = min(room, left)
                if room <= 0:  # the next batch is full: the loader takes it when it is free
                    self._queue.wait_for_room(self.options.batch_size, self.options.poll_timeout_s)
                    continue
                records = [m for m in self._poll(room) if self._is_record(m)]
                if records:
                    self._read += len(records)
                    self._queue.put(self._check(records))
                    self._last_activity = time.monotonic()
                    continue
                if self._idle_expired():
                    log.info("nothing to read for %.0f s: exiting", self.options.idle_exit_s or 0)
                    break
                if time.monotonic() - self._lag_measured >= LAG_REFRESH_S:
                    self._measure_lag()
            # Stopping: what was read is loaded and its offsets committed first.
            self._queue.drain()
            self._commit_loaded(on_batch)
        finally:
            self.close()
        return self.stats

    def _poll(self, limit: int) -> list[Message]:
        """Wait for a first message, then take what else is already fetched, up to ``limit``.

        No waiting for more: what arrives while a batch loads fills the next one (``handoff``).
        """
        first = self._consumer.consume(1, self.options.poll_timeout_s)
        if not first or limit == 1:
            return first
        return first + self._consumer.consume(limit - 1, 0)

    def _idle_expired(self) -> bool:
        # Idle time counts from the first partition assignment: joining a
        # group takes seconds and is not "nothing to read".
        quiet = time.monotonic() - self._last_activity
        if not self._assigned:
            if quiet >= JOIN_TIMEOUT_S:
                raise BrokerError(
                    f"no partitions assigned after {JOIN_TIMEOUT_S:.0f} s in group {self.options.group!r}"
                )
            return False
        idle = self.options.idle_exit_s
        return idle is not None and quiet >= idle

    @staticmethod
    def _is_record(msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            return False
        if err.fatal():
            raise BrokerError(f"Kafka consumer failed: {err.str()}")
        log.warning("consumer error: %s", err.str())
        return False

    def _measure_lag(self) -> None:
        """Lag of each assigned partition from the watermarks librdkafka caches with every fetch."""
        self._lag_measured = time.monotonic()
        try:
            assigned = self._consumer.assignment()
            positions = self._consumer.position(assigned) if assigned else []
        except KafkaException as exc:
            log.debug("cannot read positions: %s", exc)
            return
        lag = {}
        for tp in positions:
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high < 0 or tp.topic is None:
                continue  # no fetch answered yet: unknown, not zero
            lag[(tp.topic, tp.partition)] = max(high - tp.offset, 0) if tp.offset >= 0 else high
        self.stats.lag = lag
        self.metrics.set_lag(lag)

    def _check(self, records: list[Message]) -> CheckedBatch:
        """Check every message; dead-letter the rejected ones; the rest is the batch to load."""
        stage = self.metrics.stage
        began = time.perf_counter()
        good: list[CheckedReceipt] = []
        restocks: list[IncomingRestock] = []
        deliveries = [m for m in records if m.topic() == self.inventory_topic]
        checkouts = [m for m in records if m.topic() != self.inventory_topic] if deliveries else records
        for msg in deliveries:
            try:
                restocks.append(
                    IncomingRestock(check_restock(decode(msg.value()), self._known), _published_at(msg))
                )
            except Rejection as rejection:
                self._dead_letter(msg, rejection)
        decoded = time.perf_counter()
        stage.labels("decode").observe(decoded - began)
        check = self._checker.check
        for msg in checkouts:
            try:
                good.append(check(msg.value() or b"", _published_at(msg), msg))
            except Rejection as rejection:
                self._dead_letter(msg, rejection)
        stage.labels("validate").observe(time.perf_counter() - decoded)
        offsets: dict[tuple[str, int], int] = {}
        for msg in records:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            assert topic is not None and partition is not None and offset is not None
            offsets[(topic, partition)] = max(offsets.get((topic, partition), -1), offset + 1)
        return CheckedBatch(good, restocks, offsets, len(records))

    def _commit_loaded(self, on_batch: Callable[[IngestStats], None] | None = None) -> bool:
        """Commit the offsets of the batches loaded since the last call; False if one was abandoned.

        A batch abandoned (stopped during a database outage) ends the run: nothing read after it
        may be committed. A loading error is raised here.
        """
        try:
            done = self._queue.take_done()
        except LoadAbandoned:
            return False
        if not done:
            return True
        offsets: dict[tuple[str, int], int] = {}
        for batch in done:
            for key, offset in batch.offsets.items():
                offsets[key] = max(offsets.get(key, -1), offset)
            self.stats.consumed += batch.messages
            self.stats.batches += 1
        committing = time.perf_counter()
        self._commit_offsets([TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        self.metrics.stage.labels("offsets").observe(time.perf_counter() - committing)
        for (_, partition), offset in offsets.items():
            self.stats.positions[partition] = offset
        self._measure_lag()
        if on_batch is not None:
            on_batch(self.stats)
        return True

    def _load(self, batch: CheckedBatch) -> bool:
        """Load and commit ``batch`` in the database, then wait for its dead letters (loading thread)."""
        if not self._load_with_retry(batch.good, batch.restocks):
            return False
        flushing = time.perf_counter()
        self._dlq.flush()
        self.metrics.stage.labels("dead_letter").observe(time.perf_counter() - flushing)
        return True

    def _dead_letter(self, msg: Message, rejection: Rejection) -> None:
        letter = dead_letter(
            msg.key(), msg.value(), str(msg.topic()), msg.partition(), msg.offset(), rejection
        )
        self._dlq.publish(self.dlq_topic, letter.key, letter.value, letter.headers)
        self.stats.dead_letters += 1
        self.metrics.dead_letters.labels(rejection.error_class).inc()
        self.metrics.messages.labels(str(msg.topic()), DEAD_LETTER).inc()
        log.info("dead letter at %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), rejection)

    def _load_with_retry(self, batch: list[CheckedReceipt], restocks: list[IncomingRestock]) -> bool:
        """Load and commit ``batch``, waiting out database outages; False if stopped meanwhile."""
        backoff = 0.5
        while True:
            try:
                loading = time.perf_counter()
                result = self._loader.load(batch, restocks)
                committing = time.perf_counter()
                self._conn.commit()
                committed = time.perf_counter()
                self._count_loaded(result, time.time())
                self.metrics.stage.labels("load").observe(committing - loading)
                self.metrics.stage.labels("commit").observe(committed - committing)
                self.stats.loaded += result.inserted
                self.stats.duplicates += result.duplicates + result.restock_duplicates
                self.stats.restocks += result.restocks
                for conflict in result.conflicts:
                    self._dead_letter(
                        conflict.source,
                        Rejection(
                            "conflicting_duplicate",
                            f"transaction {conflict.transaction_id} was already loaded "
                            "with different content",
                        ),
                    )
                return True
            except psycopg.OperationalError as exc:
                self.metrics.database_retries.inc()
                log.warning("database unavailable (%s); retrying in %.1f s", first_line(exc), backoff)
                if not self._reconnect(backoff):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except psycopg.Error as exc:
                self._conn.rollback()
                raise DatabaseError(f"loading a batch failed: {first_line(exc)}") from exc

    def _count_loaded(self, result: LoadResult, committed_at: float) -> None:
        """Outcomes per topic, and the end-to-end latency of each transaction this commit made visible."""
        messages = self.metrics.messages
        messages.labels(self.topic, LOADED).inc(result.inserted)
        messages.labels(self.topic, DUPLICATE).inc(result.duplicates)
        if self.inventory_topic is not None:
            messages.labels(self.inventory_topic, LOADED).inc(result.restocks)
            messages.labels(self.inventory_topic, DUPLICATE).inc(result.restock_duplicates)
        observe = self.metrics.latency.observe
        for incoming in result.new:
            if incoming.published_at is not None:
                observe(max(committed_at - incoming.published_at.timestamp(), 0.0))

    def _reconnect(self, delay: float) -> bool:
        """Reconnect after ``delay``, retrying with backoff; False if stopped first."""
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        while not self.stop.wait(delay):
            try:
                self._conn = connect(self.database_url)
                self._loader = BatchLoader(self._conn)
                log.warning("reconnected to PostgreSQL at %s", mask_url(self.database_url))
                return True
            except (DatabaseError, psycopg.Error) as exc:
                log.warning("still no database (%s); retrying in %.1f s", exc, delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        log.warning(
            "stopped while the database was unavailable: the batch is abandoned, "
            "its offsets are not committed and it will be read again"
        )
        return False

    def _commit_offsets(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self.metrics.last_commit.set(time.time())
        except KafkaException as exc:
            # The database already holds the batch; a replay after a failed
            # commit is skipped as duplicates, so logging is enough.
            log.warning("offset commit failed (the batch will be replayed harmlessly): %s", exc)

    def close(self) -> None:
        """Leave the group and release the connections."""
        try:
            self._queue.close()
            self._finish_joining()
            self._consumer.close()
        finally:
            self._conn.close()

    def _finish_joining(self) -> None:
        """Wait (briefly) for a join in flight to complete before leaving the group.

        The embedded broker (Tansu 0.6) keeps a group waiting forever for a member that leaves in
        the middle of a join, so no later consumer of the group ever gets partitions; a member that
        leaves after its join is handled correctly. What is read meanwhile is not committed.
        """
        deadline = time.monotonic() + LEAVE_AFTER_JOIN_S
        while self._joining and time.monotonic() < deadline:
            try:
                self._consumer.consume(self.options.batch_size, 0.1)
            except KafkaException:
                return
