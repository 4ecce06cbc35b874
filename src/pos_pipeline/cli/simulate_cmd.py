"""``pos simulate``: publish checkouts to Kafka or write them as JSON lines."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.cli.common import MetricsHost, MetricsPort, Quiet, err_console, state
from pos_pipeline.cli.progress import ProgressLine, Rate, duration
from pos_pipeline.errors import ConfigError
from pos_pipeline.metrics.exposition import DEFAULT_HOST, serve
from pos_pipeline.metrics.simulator import SimulatorMetrics
from pos_pipeline.services import resolve_bootstrap_servers
from pos_pipeline.signals import stop_on_signals
from pos_pipeline.simulate.run import (
    HEAD_OFFICE_ZONE,
    JsonLinesSink,
    KafkaSink,
    SimulationOptions,
    SimulationProgress,
    Sink,
    run_simulation,
)


class Output(StrEnum):
    """Where the simulator writes."""

    kafka = "kafka"
    jsonl = "jsonl"


def parse_date(value: str | None) -> date | None:
    """A YYYY-MM-DD flag value."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start must be a date like 2025-03-17, got {value!r}") from None


def simulate(
    count: Annotated[int | None, typer.Option(help="Stop after N transactions.")] = None,
    days: Annotated[int | None, typer.Option(help="Simulate D days.")] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Backfill from this date (YYYY-MM-DD) as fast as possible; without it, real time."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Emit a steady R transactions per second.")] = None,
    scale: Annotated[float, typer.Option(help="Traffic multiplier (1.0 = a real chain).")] = 1.0,
    speed: Annotated[float, typer.Option(help="Real time only: run the clock X times faster.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and arguments, same output.")] = 1,
    output: Annotated[Output, typer.Option(help="kafka or jsonl.")] = Output.kafka,
    file: Annotated[str, typer.Option(help="jsonl output file ('-' for stdout).")] = "-",
    partitions: Annotated[int, typer.Option(help="Partitions when creating the topic.")] = 6,
    inventory_file: Annotated[
        str | None, typer.Option(help="jsonl only: also write restock events to this file.")
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
    quiet: Quiet = False,
) -> None:
    """Generate checkout transactions (contract v1), keyed by store."""
    options = SimulationOptions(
        seed=seed,
        count=count,
        days=days,
        start=parse_date(start),
        rate=rate,
        scale=scale,
        speed=speed,
    )
    options.validate()
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    if output is Output.jsonl and count is None and days is None and start is None:
        raise ConfigError("--output jsonl needs --count, --days or --start to end")
    if inventory_file is not None and output is not Output.jsonl:
        raise ConfigError(
            "--inventory-file goes with --output jsonl (Kafka gets restocks on POS_INVENTORY_TOPIC)"
        )
    settings = state.get_settings()
    metrics = SimulatorMetrics()
    progress = SimulationProgress()
    progress.on_advance.append(metrics.emitted)
    stop = threading.Event()
    began = time.monotonic()
    with ExitStack() as stack:
        if metrics_port is not None:
            stack.callback(serve(metrics.registry, metrics_port, metrics_host).close)
        sink: Sink
        if output is Output.kafka:
            bootstrap = resolve_bootstrap_servers(settings)
            ensure_topics(bootstrap, settings.kafka, [settings.topic, settings.inventory_topic], partitions)
            publisher = Publisher(bootstrap, settings.kafka, on_failure=metrics.publish_errors.inc)
            sink = KafkaSink(publisher, settings.topic, settings.inventory_topic)
            where = f"topic {settings.topic} at {bootstrap}"
        else:
            restocks = stack.enter_context(Path(inventory_file).open("wb")) if inventory_file else None
            if file == "-":
                sink = JsonLinesSink(sys.stdout.buffer, restocks)
                where = "stdout"
            else:
                sink = JsonLinesSink(stack.enter_context(Path(file).open("wb")), restocks)
                where = file
        stop_on_signals(stop)
        with ProgressLine(_progress_text(progress, began), quiet):
            emitted = run_simulation(options, sink, stop, progress)
    seconds = time.monotonic() - began
    err_console.print(f"simulated {emitted} transactions to {where} in {seconds:.1f} s", highlight=False)


def _progress_text(progress: SimulationProgress, began: float) -> Callable[[], str]:
    """The simulator's progress line: simulated clock, published, rate, and the time left if known."""
    rate = Rate()

    def render() -> str:
        clock = "—"
        if progress.clock_ms is not None:
            at = datetime.fromtimestamp(progress.clock_ms / 1000, tz=UTC).astimezone(HEAD_OFFICE_ZONE)
            clock = f"{at:%Y-%m-%d %H:%M} ET"
        per_second = rate(progress.transactions)
        text = f"simulated clock {clock} · published {progress.transactions:,} · {per_second:,.0f} tx/s"
        done = progress.fraction()
        if done:
            elapsed = time.monotonic() - began
            text += f" · {done:.0%} · {duration(elapsed * (1 - done) / done)} left"
        return text

    return render
