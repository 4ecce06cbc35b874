"""``pos consume``: load the warehouse from the topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.cli.common import err_console, state
from pos_pipeline.cli.options import MetricsHost, MetricsPort, Quiet
from pos_pipeline.cli.progress import ProgressLine, Rate
from pos_pipeline.config import Settings
from pos_pipeline.errors import ConfigError
from pos_pipeline.metrics.consumer import ConsumerMetrics
from pos_pipeline.metrics.exposition import DEFAULT_HOST, serve
from pos_pipeline.services import resolve_endpoints
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor, IngestStats, tune_gc_for_loading


def consume(
    group: Annotated[str, typer.Option(help="Consumer group.")] = "pos-warehouse",
    idle_exit: Annotated[
        float | None, typer.Option(help="Exit 0 after SECONDS with nothing to read.")
    ] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None,
    batch_size: Annotated[
        int, typer.Option(help="At most this many messages per database transaction.")
    ] = 25_000,
    partitions: Annotated[int, typer.Option(help="Partitions when creating the topics.")] = 6,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
    quiet: Quiet = False,
) -> None:
    """Read the PointOfSale topic in a consumer group and load PostgreSQL."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if idle_exit is not None and idle_exit <= 0:
        raise ConfigError(f"--idle-exit must be positive, got {idle_exit}")
    if max_messages is not None and max_messages < 1:
        raise ConfigError(f"--max-messages must be at least 1, got {max_messages}")
    settings = state.get_settings()
    metrics = ConsumerMetrics()
    server = serve(metrics.registry, metrics_port, metrics_host) if metrics_port is not None else None
    try:
        stats = _consume(settings, metrics, group, idle_exit, max_messages, batch_size, partitions, quiet)
    finally:
        if server is not None:
            server.close()
    err_console.print(
        f"consumed {stats.consumed}: loaded {stats.loaded}, restocks {stats.restocks}, "
        f"duplicates skipped {stats.duplicates}, dead letters {stats.dead_letters}",
        highlight=False,
    )


def _consume(
    settings: Settings,
    metrics: ConsumerMetrics,
    group: str,
    idle_exit: float | None,
    max_messages: int | None,
    batch_size: int,
    partitions: int,
    quiet: bool,
) -> IngestStats:
    endpoints = resolve_endpoints(settings)
    ensure_topics(
        endpoints.bootstrap_servers,
        settings.kafka,
        [settings.topic, settings.inventory_topic, settings.dlq_topic],
        partitions,
    )
    ingestor = Ingestor(
        endpoints.database_url,
        endpoints.bootstrap_servers,
        settings.topic,
        settings.dlq_topic,
        settings.kafka,
        IngestOptions(group=group, batch_size=batch_size, idle_exit_s=idle_exit, max_messages=max_messages),
        inventory_topic=settings.inventory_topic,
        metrics=metrics,
    )
    ingestor.install_signal_handlers()
    tune_gc_for_loading()
    with ProgressLine(_progress_text(ingestor.stats), quiet):
        return ingestor.run()


def _progress_text(stats: IngestStats) -> Callable[[], str]:
    """The consumer's progress line: loaded, rate, lag and dead letters."""
    rate = Rate()

    def render() -> str:
        lag = stats.total_lag
        return (
            f"loaded {stats.loaded:,} · {rate(stats.loaded):,.0f} tx/s · "
            f"lag {'—' if lag is None else f'{lag:,}'} · dead letters {stats.dead_letters:,} · "
            f"duplicates {stats.duplicates:,}"
        )

    return render
