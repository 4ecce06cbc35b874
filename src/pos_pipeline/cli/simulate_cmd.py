"""``pos simulate``: publish checkouts to Kafka or write them as JSON lines.

This is the command as Typer sees it (help, errors); the work is in ``simulate_run``, which
``pos simulate`` with ordinary flags runs without Typer (see there).
"""

from __future__ import annotations

from typing import Annotated

import typer

from pos_pipeline.cli import simulate_run
from pos_pipeline.cli.options import MetricsHost, MetricsPort, Quiet
from pos_pipeline.cli.simulate_run import Output
from pos_pipeline.metrics import DEFAULT_HOST as DEFAULT_METRICS_HOST
from pos_pipeline.simulate.run import CHECKPOINT_EVERY_S

__all__ = ["DEFAULT_METRICS_HOST", "Output", "simulate"]


def simulate(
    count: Annotated[int | None, typer.Option(help="Stop after N transactions.")] = None,
    days: Annotated[int | None, typer.Option(help="Simulate D days.")] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Backfill from this date (YYYY-MM-DD) as fast as possible; without it, real time."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="With --start: backfill up to now, then carry on live.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the saved run (with --days/--count: that much more; without: to its end).",
        ),
    ] = False,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Resuming a live run: publish what the stores rang up while it was down (default).",
        ),
    ] = True,
    state_file: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Save (and --resume) the run's state here [default: $POS_HOME/state/simulator.json].",
        ),
    ] = None,
    checkpoint_every: Annotated[
        float, typer.Option(help="Save the state at the first day start after this many seconds.")
    ] = CHECKPOINT_EVERY_S,
    rate: Annotated[float | None, typer.Option(help="Emit a steady R transactions per second.")] = None,
    scale: Annotated[float | None, typer.Option(help="Traffic multiplier (1.0 = a real chain).")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Live runs: run the clock X times faster than real time.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; same seed and arguments, same output [default: 1].")
    ] = None,
    output: Annotated[Output, typer.Option(help="kafka or jsonl.")] = Output.kafka,
    file: Annotated[str, typer.Option(help="jsonl output file ('-' for stdout).")] = "-",
    partitions: Annotated[int, typer.Option(help="Partitions when creating the topic.")] = 6,
    inventory_file: Annotated[
        str | None, typer.Option(help="jsonl only: also write restock events to this file.")
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_METRICS_HOST,
    workers: Annotated[
        int, typer.Option(help="Generate in N processes (same output); 1 = in this process.")
    ] = 1,
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: make only the K-th of N disjoint parts of the run (a share of the stores), "
            "so that N processes or machines publish one run together."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Generate checkout transactions (contract v1), keyed by store; the run's state is saved as it goes."""
    simulate_run.simulate(
        count=count,
        days=days,
        start=start,
        follow=follow,
        resume=resume,
        catch_up=catch_up,
        state_file=state_file,
        checkpoint_every=checkpoint_every,
        rate=rate,
        scale=scale,
        speed=speed,
        seed=seed,
        output=output,
        file=file,
        partitions=partitions,
        inventory_file=inventory_file,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        workers=workers,
        shard=shard,
        quiet=quiet,
    )
