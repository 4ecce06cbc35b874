"""Typer option types that several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve Prometheus metrics on this port (http://HOST:PORT/metrics).", show_default=False
    ),
]
MetricsHost = Annotated[str, typer.Option(help="Address the metrics endpoint binds to.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress line or progress logs.")]
