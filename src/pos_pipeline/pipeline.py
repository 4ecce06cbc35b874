"""Getting the warehouse and the topics ready for a run of the whole pipeline (``pos demo``, ``pos up``)."""

from __future__ import annotations

from rich.console import Console

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.config import Settings, mask_url
from pos_pipeline.services import Endpoints
from pos_pipeline.warehouse.setup import init_warehouse

PARTITIONS = 6


def prepare(settings: Settings, endpoints: Endpoints, console: Console) -> None:
    """Say where the warehouse and broker are, migrate and seed the warehouse, create the topics."""
    console.print(
        f"warehouse: {mask_url(endpoints.database_url)}   broker: {endpoints.bootstrap_servers}",
        highlight=False,
    )
    init_warehouse(endpoints.database_url)
    ensure_topics(
        endpoints.bootstrap_servers,
        settings.kafka,
        [settings.topic, settings.inventory_topic, settings.dlq_topic],
        PARTITIONS,
    )
