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
from typing import TYPE_CHECKING, Annotated

import typer

from pos_pipeline.cli.common import MetricsHost, MetricsPort, Quiet, err_console, state
from pos_pipeline.cli.progress import ProgressLine, Rate, duration
from pos_pipeline.errors import ConfigError
from pos_pipeline.reference.catalogue import stores
from pos_pipeline.signals import stop_on_signals
from pos_pipeline.simulate.run import (
    CHECKPOINT_EVERY_S,
    HEAD_OFFICE_ZONE,
    JsonLinesSink,
    KafkaSink,
    SimulationOptions,
    SimulationProgress,
    Sink,
    StateFile,
    finished,
    run_simulation,
)
from pos_pipeline.simulate.shards import parse_shard
from pos_pipeline.simulate.state import default_path, load

if TYPE_CHECKING:
    from pos_pipeline.simulate.workers import WorkerPool

# Kafka, Prometheus and the services are imported only by the runs that use them: a JSON-lines
# run starts without them (see BENCHMARKS.md, "first receipt").
DEFAULT_METRICS_HOST = "127.0.0.1"  # metrics.exposition.DEFAULT_HOST


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
    follow: Annotated[
        bool, typer.Option("--follow", help="With --start: backfill up to now, then carry on live.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the saved run (with --days/--count: that much more; without: to its end).",
        ),
    ] = False,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Resuming a live run: publish what the stores rang up while it was down (default).",
        ),
    ] = True,
    state_file: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Save (and --resume) the run's state here [default: $POS_HOME/state/simulator.json].",
        ),
    ] = None,
    checkpoint_every: Annotated[
        float, typer.Option(help="Save the state at the first day start after this many seconds.")
    ] = CHECKPOINT_EVERY_S,
    rate: Annotated[float | None, typer.Option(help="Emit a steady R transactions per second.")] = None,
    scale: Annotated[float | None, typer.Option(help="Traffic multiplier (1.0 = a real chain).")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Live runs: run the clock X times faster than real time.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; same seed and arguments, same output [default: 1].")
    ] = None,
    output: Annotated[Output, typer.Option(help="kafka or jsonl.")] = Output.kafka,
    file: Annotated[str, typer.Option(help="jsonl output file ('-' for stdout).")] = "-",
    partitions: Annotated[int, typer.Option(help="Partitions when creating the topic.")] = 6,
    inventory_file: Annotated[
        str | None, typer.Option(help="jsonl only: also write restock events to this file.")
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
    workers: Annotated[
        int, typer.Option(help="Generate in N processes (same output); 1 = in this process.")
    ] = 1,
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: make only the K-th of N disjoint parts of the run (a share of the stores), "
            "so that N processes or machines publish one run together."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Generate checkout transactions (contract v1), keyed by store; the run's state is saved as it goes."""
    if resume:
        given = [name for name, value in (("--seed", seed), ("--scale", scale), ("--start", start)) if value]
        if given:
            raise ConfigError(f"--resume continues the saved run: {', '.join(given)} come from its state")
    elif not catch_up:
        raise ConfigError("--no-catch-up goes with --resume")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    sharded = parse_shard(shard, len(stores())) if shard is not None else None
    options = SimulationOptions(
        seed=seed if seed is not None else 1,
        count=count,
        days=days,
        start=parse_date(start),
        rate=rate,
        scale=scale if scale is not None else 1.0,
        speed=speed,
        follow=follow,
        catch_up=catch_up,
        shard=sharded,
    )
    options.validate()
    if sharded is not None and start is None and not resume:
        raise ConfigError(
            "--shard needs --start: every shard must draw the same run (use --start with --follow to go live)"
        )
    if follow and start is None and not resume:
        raise ConfigError("--follow goes with --start (without --start, a run is live from now anyway)")
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    if output is Output.jsonl and count is None and days is None and start is None and not resume:
        raise ConfigError("--output jsonl needs --count, --days or --start to end")
    if inventory_file is not None and output is not Output.jsonl:
        raise ConfigError(
            "--inventory-file goes with --output jsonl (Kafka gets restocks on POS_INVENTORY_TOPIC)"
        )
    if checkpoint_every < 0:
        raise ConfigError(f"--checkpoint-every must be 0 or more, got {checkpoint_every}")
    saving = StateFile(
        Path(state_file) if state_file else default_path(state.get_settings().home, sharded),
        resume,
        checkpoint_every,
    )
    if resume and count is None and days is None and not follow and finished(load(saving.path)):
        err_console.print(
            f"the run saved in {saving.path} has finished: give --days, --count or --follow to continue it",
            highlight=False,
        )
        return
    if not resume:
        _warn_if_replacing(saving.path)
    progress = SimulationProgress()
    stop = threading.Event()
    began = time.monotonic()
    with ExitStack() as stack:
        # Workers are forked first, while this process has no other thread: see simulate/workers.py.
        pool = _worker_pool(workers, stack)
        on_failure = None
        if metrics_port is not None:
            from pos_pipeline.metrics.exposition import serve
            from pos_pipeline.metrics.simulator import SimulatorMetrics

            metrics = SimulatorMetrics()
            progress.on_advance.append(metrics.emitted)
            on_failure = metrics.publish_errors.inc
            stack.callback(serve(metrics.registry, metrics_port, metrics_host).close)
        sink: Sink
        if output is Output.kafka:
            from pos_pipeline.broker.admin import ensure_topics
            from pos_pipeline.broker.producer import Publisher
            from pos_pipeline.services import resolve_bootstrap_servers

            settings = state.get_settings()
            bootstrap = resolve_bootstrap_servers(settings)
            ensure_topics(bootstrap, settings.kafka, [settings.topic, settings.inventory_topic], partitions)
            publisher = Publisher(bootstrap, settings.kafka, on_failure=on_failure)
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
            emitted = run_simulation(options, sink, stop, progress, saving, pool or workers)
    seconds = time.monotonic() - began
    err_console.print(
        f"simulated {emitted} transactions to {where} in {seconds:.1f} s; "
        f"state saved in {saving.path} (continue with --resume)",
        highlight=False,
        soft_wrap=True,
    )


def _worker_pool(workers: int, stack: ExitStack) -> WorkerPool | None:
    """The worker processes for ``--workers`` above one (at most one per store)."""
    count = min(workers, len(stores()))
    if count < 2:
        return None
    from pos_pipeline.simulate.workers import WorkerPool

    return stack.enter_context(WorkerPool(count))


def _warn_if_replacing(path: Path) -> None:
    """A fresh run replaces the saved one: say so when that one could still have been resumed."""
    try:
        saved = load(path)
    except ConfigError:
        return  # nothing there, or nothing resumable
    if not finished(saved) or saved.follow:
        err_console.print(
            f"warning: replacing the unfinished run saved in {path} (continue a run with --resume; "
            "--state FILE keeps runs apart)",
            highlight=False,
            soft_wrap=True,
        )


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
        if progress.live:
            text += " · live"
        done = progress.fraction()
        if done:
            elapsed = time.monotonic() - began
            text += f" · {done:.0%} · {duration(elapsed * (1 - done) / done)} left"
        return text

    return render
