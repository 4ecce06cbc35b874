"""Driving the generator: how many, over which window, how fast, and into which sink."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import IO, Protocol

from pos_pipeline.broker.producer import Publisher
from pos_pipeline.errors import ConfigError
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.generator import Event, TransactionGenerator, Window, backfill_window
from pos_pipeline.simulate.traffic import utc_now

DAY_S = 86_400.0


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


class Sink(Protocol):
    """Where events go."""

    def write(self, event: Event) -> None:
        """Accept one event."""

    def close(self) -> None:
        """Flush and release; raise if anything was not delivered."""


class JsonLinesSink:
    """One JSON object per line, to a binary file."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def write(self, event: Event) -> None:
        """Write the event's body and a newline."""
        self.stream.write(event.value + b"\n")

    def close(self) -> None:
        """Flush the stream."""
        self.stream.flush()


class KafkaSink:
    """Publishes each event to a topic, keyed by store."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    def write(self, event: Event) -> None:
        """Queue the event for delivery."""
        self.publisher.publish(self.topic, event.key, event.value)

    def close(self) -> None:
        """Wait for every delivery report."""
        self.publisher.flush()


def _window(options: SimulationOptions) -> tuple[Window, bool]:
    """The simulated window and whether it follows the wall clock."""
    if options.start is not None:
        return backfill_window(options.start, options.days), False
    now = utc_now()
    until = now + options.days * DAY_S if options.days is not None else None
    return Window(start=now, until=until), True


def run_simulation(
    options: SimulationOptions,
    sink: Sink,
    stop: threading.Event | None = None,
    progress: list[int] | None = None,
) -> int:
    """Generate into ``sink`` until the count, the window or ``stop`` ends it; return the count."""
    options.validate()
    window, realtime = _window(options)
    # The stream is a function of the seed and the window, so two different
    # backfills with one seed never share transaction ids.
    generator = TransactionGenerator(f"{options.seed}:{window.start}:{options.scale}", options.scale)
    wall_start = time.monotonic()
    emitted = 0
    try:
        for event in generator.events(window):
            if options.count is not None and emitted >= options.count:
                break
            if stop is not None and stop.is_set():
                break
            if options.rate is not None:
                _sleep_until(wall_start + emitted / options.rate, stop)
            elif realtime:
                _sleep_until(wall_start + (event.timestamp - window.start) / options.speed, stop)
            sink.write(event)
            emitted += 1
            if progress is not None:
                progress[0] = emitted
    finally:
        sink.close()
    return emitted


def _sleep_until(deadline: float, stop: threading.Event | None) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
