"""``pos demo``: the main job on the embedded defaults."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from pos_pipeline.cli.common import console, state
from pos_pipeline.cli.simulate_run import parse_date
from pos_pipeline.demo import run_demo
from pos_pipeline.errors import ConfigError


def demo(
    transactions: Annotated[int, typer.Option(help="How many transactions to simulate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    start: Annotated[str | None, typer.Option(help="First simulated day (default: a week ago).")] = None,
) -> None:
    """Start the services, simulate and load at once with a live view, then summarise."""
    if transactions < 1:
        raise ConfigError(f"--transactions must be at least 1, got {transactions}")
    first_day = parse_date(start) or date.today() - timedelta(days=7)
    run_demo(state.get_settings(), transactions, seed, first_day, console)
