"""Driving the chain simulator: which days, how many, how fast, and into which sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import IO, Protocol
from zoneinfo import ZoneInfo

from pos_pipeline.broker.producer import Publisher
from pos_pipeline.errors import ConfigError
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.engine import TRANSACTION, ChainSimulator, DayBatch, Event

DAY_MS = 86_400_000
# The chain's "today" for real-time runs; every store's local date is this one or a neighbour.
HEAD_OFFICE_ZONE = ZoneInfo("America/Toronto")


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """What to simulate: see ``pos simulate --help``."""

    seed: int = 1
    count: int | None = None
    days: int | None = None
    start: date | None = None
    rate: float | None = None
    scale: float = 1.0
    speed: float = 1.0

    def validate(self) -> None:
        """Raise ConfigError for values that cannot be simulated."""
        if self.count is not None and self.count < 0:
            raise ConfigError(f"--count must be 0 or more, got {self.count}")
        if self.days is not None and self.days < 1:
            raise ConfigError(f"--days must be at least 1, got {self.days}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError(f"--rate must be positive, got {self.rate}")
        if self.scale <= 0:
            raise ConfigError(f"--scale must be positive, got {self.scale}")
        if self.speed <= 0:
            raise ConfigError(f"--speed must be positive, got {self.speed}")
        first = tax_table().first_date
        if self.start is not None and self.start < first:
            raise ConfigError(f"--start must be {first.isoformat()} or later (tax law is known from then)")


@dataclass
class SimulationProgress:
    """How far a run is, readable from another thread; ``on_advance`` sees every step (metrics)."""

    transactions: int = 0
    restocks: int = 0
    #: The simulated clock: the instant of the latest event emitted (UTC milliseconds).
    clock_ms: int | None = None
    #: The run's simulated span when its end is known by time (UTC milliseconds), for the time left.
    span_ms: tuple[int, int] | None = None
    #: The run's size when its end is known by count.
    count: int | None = None
    on_advance: list[Callable[[int, int, int | None], None]] = field(default_factory=list)

    def advance(self, transactions: int, restocks: int, last_ms: int | None) -> None:
        """Count events just handed to the sink and move the clock to the last of them."""
        self.transactions += transactions
        self.restocks += restocks
        if last_ms is not None:
            self.clock_ms = last_ms
        for hook in self.on_advance:
            hook(transactions, restocks, last_ms)

    def fraction(self) -> float | None:
        """The share of the run done, when its end is known."""
        if self.count:
            return min(self.transactions / self.count, 1.0)
        if self.span_ms is not None and self.clock_ms is not None:
            first, end = self.span_ms
            return min(max((self.clock_ms - first) / (end - first), 0.0), 1.0)
        return None


class Sink(Protocol):
    """Where events go."""

    def write_day(self, batch: DayBatch) -> None:
        """Accept a day's events (or a part of it)."""

    def write_event(self, event: Event) -> None:
        """Accept one event (paced runs)."""

    def close(self) -> None:
        """Flush and release; raise if anything was not delivered."""


CHUNK = 10_000


class JsonLinesSink:
    """Transactions as JSON lines to one stream, restocks (optionally) to another."""

    def __init__(self, stream: IO[bytes], inventory: IO[bytes] | None = None) -> None:
        self.stream = stream
        self.inventory = inventory

    def write_day(self, batch: DayBatch) -> None:
        """Write each event's body and a newline to its stream."""
        for start in range(0, len(batch.values), CHUNK):
            self.stream.write(b"\n".join(batch.values[start : start + CHUNK]) + b"\n")
        if self.inventory is not None and batch.restocks:
            self.inventory.write(b"".join(r.value + b"\n" for r in batch.restocks))

    def write_event(self, event: Event) -> None:
        """Write one event's body and a newline to its stream."""
        if event.kind == TRANSACTION:
            self.stream.write(event.value + b"\n")
        elif self.inventory is not None:
            self.inventory.write(event.value + b"\n")

    def close(self) -> None:
        """Flush the streams."""
        self.stream.flush()
        if self.inventory is not None:
            self.inventory.flush()


class KafkaSink:
    """Transactions to one topic and restocks to another, keyed by store."""

    def __init__(self, publisher: Publisher, topic: str, inventory_topic: str | None = None) -> None:
        self.publisher = publisher
        self.topic = topic
        self.inventory_topic = inventory_topic

    def write_day(self, batch: DayBatch) -> None:
        """Queue the events for delivery."""
        if self.inventory_topic is not None:
            for restock in batch.restocks:
                self.publisher.publish(self.inventory_topic, restock.key, restock.value)
        publish, topic = self.publisher.publish, self.topic
        for key, value in zip(batch.keys, batch.values, strict=True):
            publish(topic, key, value)

    def write_event(self, event: Event) -> None:
        """Queue one event for delivery."""
        topic = self.topic if event.kind == TRANSACTION else self.inventory_topic
        if topic is not None:
            self.publisher.publish(topic, event.key, event.value)

    def close(self) -> None:
        """Wait for every delivery report."""
        self.publisher.flush()


def _local_midnight_ms(day: date) -> int:
    return int(datetime.combine(day, clock_time(), HEAD_OFFICE_ZONE).timestamp() * 1000)


def _span(options: SimulationOptions, first_ms: int | None, until_ms: int | None) -> tuple[int, int] | None:
    """The run's simulated span, when days end it (head-office days: close enough for a time left)."""
    if options.days is None:
        return None
    if first_ms is not None and until_ms is not None:
        return first_ms, until_ms
    assert options.start is not None
    first = _local_midnight_ms(options.start)
    return first, first + options.days * DAY_MS


def _stream(options: SimulationOptions) -> tuple[Iterator[DayBatch], int | None, int | None]:
    """Days of events, the first UTC instant to emit (real time), and the last (exclusive)."""
    if options.start is not None:
        simulator = ChainSimulator(
            f"{options.seed}:{options.start.isoformat()}:{options.scale}", options.scale
        )
        days = simulator.days(options.start)
        if options.days is not None:
            days = (d for _, d in zip(range(options.days), days, strict=False))
        return days, None, None
    now = datetime.now(tz=UTC)
    now_ms = int(now.timestamp() * 1000)
    # Each real-time run draws its own stream, so two runs never share transaction ids.
    simulator = ChainSimulator(f"{options.seed}:{now_ms}:{options.scale}", options.scale)
    days = simulator.days(now.astimezone(HEAD_OFFICE_ZONE).date())
    if options.days is None:
        return days, now_ms, None
    # The window ends part-way through a local day: one more day covers it.
    return (
        (d for _, d in zip(range(options.days + 2), days, strict=False)),
        now_ms,
        now_ms + options.days * DAY_MS,
    )


def run_simulation(
    options: SimulationOptions,
    sink: Sink,
    stop: threading.Event | None = None,
    progress: SimulationProgress | None = None,
) -> int:
    """Generate into ``sink`` until the count, the days or ``stop`` end it; return transactions."""
    options.validate()
    days, first_ms, until_ms = _stream(options)
    progress = progress if progress is not None else SimulationProgress()
    progress.count = options.count
    progress.span_ms = _span(options, first_ms, until_ms)
    paced = options.rate is not None or first_ms is not None
    wall_start = time.monotonic()
    emitted = 0
    try:
        while not (stop is not None and stop.is_set()):
            if options.count is not None and emitted >= options.count:
                break
            batch = next(days, None)
            if batch is None:
                break
            if first_ms is not None:
                batch = batch.after(first_ms, until_ms)
            if options.count is not None:
                batch = batch.head(options.count - emitted)
            if paced:
                emitted += _paced(batch, sink, options, wall_start, first_ms, emitted, stop, progress)
            else:
                sink.write_day(batch)
                emitted += len(batch.values)
                last = max(batch.utc_ms[-1:] + [r.utc_ms for r in batch.restocks[-1:]], default=None)
                progress.advance(len(batch.values), len(batch.restocks), last)
            del batch  # keep one day in memory, not two
    finally:
        sink.close()
    return emitted


def _paced(
    batch: DayBatch,
    sink: Sink,
    options: SimulationOptions,
    wall_start: float,
    first_ms: int | None,
    already: int,
    stop: threading.Event | None,
    progress: SimulationProgress,
) -> int:
    sent = 0
    for event in batch.events():
        if stop is not None and stop.is_set():
            break
        if event.kind == TRANSACTION:
            if options.rate is not None:
                _sleep_until(wall_start + (already + sent) / options.rate, stop)
            elif first_ms is not None:
                _sleep_until(wall_start + (event.utc_ms - first_ms) / 1000 / options.speed, stop)
            if stop is not None and stop.is_set():
                break  # woken to stop: the event is not emitted
            sent += 1
        sink.write_event(event)
        is_sale = event.kind == TRANSACTION
        progress.advance(int(is_sale), int(not is_sale), event.utc_ms)
    return sent


def _sleep_until(deadline: float, stop: threading.Event | None) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
