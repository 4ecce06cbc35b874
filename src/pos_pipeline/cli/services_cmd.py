"""``pos services``: the embedded PostgreSQL and broker."""

from __future__ import annotations

import typer
from rich.table import Table

from pos_pipeline.cli.common import console, state
from pos_pipeline.services import (
    env_lines,
    resolve_endpoints,
    service_status,
    start_services,
    stop_services,
    where_lines,
)

app = typer.Typer(
    help="Start, stop and locate the embedded PostgreSQL and Kafka-protocol broker.",
    no_args_is_help=True,
)


@app.command()
def start() -> None:
    """Start, in the background, whatever is not configured externally."""
    endpoints = start_services(state.get_settings())
    if endpoints.started:
        console.print(f"started: {', '.join(endpoints.started)}")
    else:
        console.print("already running (or configured externally): nothing started")
    # Masked: a terminal's scrollback and CI logs are no place for the password; `env` prints it.
    for line in where_lines(endpoints):
        console.print(line, highlight=False, markup=False)
    console.print('export them, password included: eval "$(pos services env)"', highlight=False, markup=False)


@app.command()
def stop() -> None:
    """Stop the embedded services that `pos services start` started."""
    stopped = stop_services(state.get_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing to stop")


@app.command()
def status() -> None:
    """Say what runs and where."""
    table = Table("service", "state", "where")
    for item in service_status(state.get_settings()):
        table.add_row(item.name, item.state, item.where)
    console.print(table)


@app.command()
def env() -> None:
    """Print `export` lines for the running services, password included: eval "$(pos services env)"."""
    for line in env_lines(resolve_endpoints(state.get_settings())):
        typer.echo(line)
