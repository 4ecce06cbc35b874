"""``pos up``: the pipeline live, with its dashboard, until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from pos_pipeline.cli.common import console, state
from pos_pipeline.up import Up, UpOptions

DEFAULTS = UpOptions()


def up(
    speed: Annotated[
        float, typer.Option(help="How many times faster than real time the chain's clock runs.")
    ] = DEFAULTS.speed,
    scale: Annotated[float, typer.Option(help="Traffic multiplier (1.0 = a real chain).")] = DEFAULTS.scale,
    history_days: Annotated[
        int, typer.Option(help="Days of history to backfill first into an empty warehouse (0: none).")
    ] = DEFAULTS.history_days,
    host: Annotated[str, typer.Option(help="Address the dashboard listens on.")] = DEFAULTS.host,
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = DEFAULTS.port,
    metrics_port: Annotated[
        int, typer.Option(help="Prometheus metrics: the simulator on PORT, the consumer on PORT+1.")
    ] = DEFAULTS.metrics_port,
    seed: Annotated[int, typer.Option(help="Random seed.")] = DEFAULTS.seed,
) -> None:
    """Start everything (services, warehouse, simulator, consumer, dashboard) and run live until Ctrl-C."""
    options = UpOptions(
        speed=speed,
        scale=scale,
        history_days=history_days,
        host=host,
        port=port,
        metrics_port=metrics_port,
        seed=seed,
    )
    raise typer.Exit(Up(state.get_settings(), options, console).run())
