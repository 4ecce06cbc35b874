"""``pos consume``: load the warehouse from the topic."""

from __future__ import annotations

from typing import Annotated

import typer

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.cli.common import err_console, state
from pos_pipeline.errors import ConfigError
from pos_pipeline.services import resolve_endpoints
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor


def consume(
    group: Annotated[str, typer.Option(help="Consumer group.")] = "pos-warehouse",
    idle_exit: Annotated[
        float | None, typer.Option(help="Exit 0 after SECONDS with nothing to read.")
    ] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None,
    batch_size: Annotated[int, typer.Option(help="Messages per database transaction.")] = 2000,
    partitions: Annotated[int, typer.Option(help="Partitions when creating the topics.")] = 6,
) -> None:
    """Read the PointOfSale topic in a consumer group and load PostgreSQL."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if idle_exit is not None and idle_exit <= 0:
        raise ConfigError(f"--idle-exit must be positive, got {idle_exit}")
    if max_messages is not None and max_messages < 1:
        raise ConfigError(f"--max-messages must be at least 1, got {max_messages}")
    settings = state.get_settings()
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
    )
    ingestor.install_signal_handlers()
    stats = ingestor.run()
    err_console.print(
        f"consumed {stats.consumed}: loaded {stats.loaded}, restocks {stats.restocks}, "
        f"duplicates skipped {stats.duplicates}, dead letters {stats.dead_letters}",
        highlight=False,
    )
