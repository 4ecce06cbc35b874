"""Embedded PostgreSQL and Kafka-protocol broker, run in the background under ``$POS_HOME``."""

from pos_pipeline.services.manager import (
    Endpoints,
    ServiceStatus,
    env_lines,
    resolve_bootstrap_servers,
    resolve_database_url,
    resolve_endpoints,
    service_status,
    start_services,
    stop_services,
    where_lines,
)
from pos_pipeline.services.postgres import pg_bin_dir

__all__ = [
    "Endpoints",
    "ServiceStatus",
    "env_lines",
    "pg_bin_dir",
    "resolve_bootstrap_servers",
    "resolve_database_url",
    "resolve_endpoints",
    "service_status",
    "start_services",
    "stop_services",
    "where_lines",
]
