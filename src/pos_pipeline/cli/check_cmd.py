"""``pos check``: reconcile the warehouse; a non-zero exit on any violated invariant."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pos_pipeline.broker.dead_letters import dead_letters_by_reason
from pos_pipeline.broker.lag import consumer_lag
from pos_pipeline.cli.common import console, state
from pos_pipeline.services import resolve_endpoints
from pos_pipeline.warehouse.db import connection
from pos_pipeline.warehouse.reconcile import Report, check_invariants


def check(
    group: Annotated[str, typer.Option(help="Consumer group whose lag to report.")] = "pos-warehouse",
) -> None:
    """Check the warehouse's invariants; report dead letters by reason and consumer lag."""
    settings = state.get_settings()
    endpoints = resolve_endpoints(settings)
    with connection(endpoints.database_url) as conn:
        report = Report(violations=check_invariants(conn))
    report.dead_letters = dead_letters_by_reason(
        endpoints.bootstrap_servers, settings.kafka, settings.dlq_topic
    )
    report.lag = consumer_lag(
        endpoints.bootstrap_servers, settings.kafka, group, [settings.topic, settings.inventory_topic]
    )

    invariants = Table("invariant", "violating rows", title="Warehouse invariants")
    for name, count in report.violations.items():
        invariants.add_row(name, f"[red]{count:,}[/red]" if count else "0")
    console.print(invariants)
    letters = Table("error class", "messages", title=f"Dead letters on {settings.dlq_topic}")
    for reason, count in sorted(report.dead_letters.items()):
        letters.add_row(reason, f"{count:,}")
    console.print(letters if report.dead_letters else f"no dead letters on {settings.dlq_topic}")
    lag = Table("topic", "partition", "lag", title=f"Consumer lag of group {group}")
    for (topic, partition), behind in sorted(report.lag.items()):
        lag.add_row(topic, str(partition), f"{behind:,}")
    console.print(lag)
    if not report.ok:
        console.print("[red]the warehouse violates its invariants[/red]")
        raise typer.Exit(1)
    console.print("all invariants hold")
