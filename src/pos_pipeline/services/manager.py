"""Start, stop, inspect and locate the embedded services, honouring external settings."""

from __future__ import annotations

import fcntl
import logging
import shlex
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pos_pipeline.config import Settings, mask_url
from pos_pipeline.errors import ServiceError
from pos_pipeline.services import broker, postgres
from pos_pipeline.services.state import run_dir

log = logging.getLogger(__name__)

ServiceName = Literal["postgres", "broker"]
RunState = Literal["running", "stopped", "external"]


@dataclass(frozen=True, repr=False)
class Endpoints:
    """Where the warehouse and the broker are, and which services a start call started.

    ``database_url`` carries the password: show it through ``mask_url`` only.
    """

    database_url: str
    bootstrap_servers: str
    started: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Tracebacks, test failures and debug logs print reprs: keep the password out of them.
        return (
            f"Endpoints(database_url={mask_url(self.database_url)!r}, "
            f"bootstrap_servers={self.bootstrap_servers!r}, started={self.started!r})"
        )


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``service_status`` reports it; ``where`` is '' when stopped."""

    name: str
    state: RunState
    where: str


def _home(settings: Settings) -> Path:
    return settings.home.expanduser().resolve()


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    # Two concurrent `pos services start` runs would otherwise both start a server.
    lock_dir = run_dir(home)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start_services(settings: Settings) -> Endpoints:
    """Start the embedded services not configured externally; wait until they answer."""
    home = _home(settings)
    started: list[str] = []
    with _locked(home):
        if settings.database_url:
            database_url = settings.database_url
        else:
            database_url, fresh = postgres.ensure_running(home)
            if fresh:
                started.append(postgres.NAME)
        if settings.kafka_bootstrap_servers:
            bootstrap = settings.kafka_bootstrap_servers
        else:
            try:
                bootstrap, fresh = broker.ensure_running(home)
            except ServiceError:
                # Leave things as they were: undo what this call started.
                if postgres.NAME in started:
                    postgres.stop(home)
                raise
            if fresh:
                started.append(broker.NAME)
    return Endpoints(database_url, bootstrap, tuple(started))


def stop_services(settings: Settings, only: Iterable[str] | None = None) -> list[str]:
    """Stop the embedded services recorded in the state files (or just ``only``); return those stopped."""
    home = _home(settings)
    wanted = set(only) if only is not None else {broker.NAME, postgres.NAME}
    stopped: list[str] = []
    with _locked(home):
        # The broker first: it may be in the middle of handing data to a consumer.
        if broker.NAME in wanted and broker.stop(home):
            stopped.append(broker.NAME)
        if postgres.NAME in wanted and postgres.stop(home):
            stopped.append(postgres.NAME)
    return stopped


def _embedded_address(home: Path, name: ServiceName) -> str | None:
    if name == "postgres":
        return postgres.running_address(home)
    return broker.running_address(home)


def service_status(settings: Settings) -> list[ServiceStatus]:
    """Report each service as running, stopped or external (passwords masked)."""
    home = _home(settings)
    result: list[ServiceStatus] = []
    externals: dict[ServiceName, str | None] = {
        "postgres": settings.database_url,
        "broker": settings.kafka_bootstrap_servers,
    }
    for name, external in externals.items():
        if external:
            result.append(ServiceStatus(name, "external", mask_url(external)))
            continue
        address = _embedded_address(home, name)
        if address is None:
            result.append(ServiceStatus(name, "stopped", ""))
        else:
            result.append(ServiceStatus(name, "running", mask_url(address)))
    return result


def resolve_database_url(settings: Settings) -> str:
    """Return POS_DATABASE_URL if set, else the running embedded PostgreSQL's URL (with its password)."""
    if settings.database_url:
        return settings.database_url
    url = _embedded_address(_home(settings), "postgres")
    if url is None:
        raise ServiceError(
            "the embedded PostgreSQL is not running: run `pos services start` or set POS_DATABASE_URL"
        )
    return url


def resolve_bootstrap_servers(settings: Settings) -> str:
    """Return POS_KAFKA_BOOTSTRAP_SERVERS if set, else the running embedded broker's."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    bootstrap = _embedded_address(_home(settings), "broker")
    if bootstrap is None:
        raise ServiceError(
            "the embedded broker is not running: run `pos services start` or set POS_KAFKA_BOOTSTRAP_SERVERS"
        )
    return bootstrap


def resolve_endpoints(settings: Settings) -> Endpoints:
    """Return the endpoints the other commands use; raise ServiceError if one is missing."""
    return Endpoints(resolve_database_url(settings), resolve_bootstrap_servers(settings))


def env_lines(endpoints: Endpoints) -> list[str]:
    """Return shell ``export`` lines pointing POS_* variables at ``endpoints``, password included."""
    return [
        f"export POS_DATABASE_URL={shlex.quote(endpoints.database_url)}",
        f"export POS_KAFKA_BOOTSTRAP_SERVERS={shlex.quote(endpoints.bootstrap_servers)}",
    ]


def where_lines(endpoints: Endpoints) -> list[str]:
    """Return lines saying where the warehouse and the broker are, the password masked."""
    return [
        f"warehouse: {mask_url(endpoints.database_url)}",
        f"broker: {endpoints.bootstrap_servers}",
    ]
