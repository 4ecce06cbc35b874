"""What ``pos simulate`` does, without Typer: the command's body, and a parser for its usual flags.

Typer builds a Pydantic validator for every option before a command runs, about a tenth of a
second with the imports it needs, which is a fifth of the time to ``pos simulate``'s first
receipt. So ``pos simulate`` with flags this module's :func:`parse` understands (every option,
each at most once, with plain values) runs :func:`simulate` directly; anything else (help, a
typo, an odd value) goes through Typer, which gives its usual answer, or error, for it. The
Typer command (``simulate_cmd``) takes the same options and calls the same function; a test
holds the two parsers to the same results.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pos_pipeline.cli.common import err_console, state
from pos_pipeline.cli.progress import ProgressLine, Rate, duration
from pos_pipeline.errors import ConfigError
from pos_pipeline.metrics import DEFAULT_HOST as DEFAULT_METRICS_HOST
from pos_pipeline.reference.catalogue import stores
from pos_pipeline.signals import stop_on_signals
from pos_pipeline.simulate.run import (
    CHECKPOINT_EVERY_S,
    HEAD_OFFICE_ZONE,
    JsonLinesSink,
    KafkaSink,
    SimulationOptions,
    SimulationProgress,
    Sink,
    StateFile,
    finished,
    run_simulation,
)
from pos_pipeline.simulate.shards import parse_shard
from pos_pipeline.simulate.state import default_path, load

# Kafka, Prometheus and the services are imported only by the runs that use them: a JSON-lines
# run starts without them (see BENCHMARKS.md, "first receipt").
if TYPE_CHECKING:
    from pos_pipeline.simulate.workers import WorkerPool


class Output(StrEnum):
    """Where the simulator writes."""

    kafka = "kafka"
    jsonl = "jsonl"


def parse_date(value: str | None) -> date | None:
    """A YYYY-MM-DD flag value."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start must be a date like 2025-03-17, got {value!r}") from None


def simulate(
    count: int | None = None,
    days: int | None = None,
    start: str | None = None,
    follow: bool = False,
    resume: bool = False,
    catch_up: bool = True,
    state_file: str | None = None,
    checkpoint_every: float = CHECKPOINT_EVERY_S,
    rate: float | None = None,
    scale: float | None = None,
    speed: float | None = None,
    seed: int | None = None,
    output: Output = Output.kafka,
    file: str = "-",
    partitions: int = 6,
    inventory_file: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str = DEFAULT_METRICS_HOST,
    workers: int = 1,
    shard: str | None = None,
    quiet: bool = False,
) -> None:
    """Run ``pos simulate`` with these options (see ``pos simulate --help``)."""
    if resume:
        given = [name for name, value in (("--seed", seed), ("--scale", scale), ("--start", start)) if value]
        if given:
            raise ConfigError(f"--resume continues the saved run: {', '.join(given)} come from its state")
    elif not catch_up:
        raise ConfigError("--no-catch-up goes with --resume")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    sharded = parse_shard(shard, len(stores())) if shard is not None else None
    options = SimulationOptions(
        seed=seed if seed is not None else 1,
        count=count,
        days=days,
        start=parse_date(start),
        rate=rate,
        scale=scale if scale is not None else 1.0,
        speed=speed,
        follow=follow,
        catch_up=catch_up,
        shard=sharded,
    )
    options.validate()
    if sharded is not None and start is None and not resume:
        raise ConfigError(
            "--shard needs --start: every shard must draw the same run (use --start with --follow to go live)"
        )
    if follow and start is None and not resume:
        raise ConfigError("--follow goes with --start (without --start, a run is live from now anyway)")
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    if output is Output.jsonl and count is None and days is None and start is None and not resume:
        raise ConfigError("--output jsonl needs --count, --days or --start to end")
    if inventory_file is not None and output is not Output.jsonl:
        raise ConfigError(
            "--inventory-file goes with --output jsonl (Kafka gets restocks on POS_INVENTORY_TOPIC)"
        )
    if checkpoint_every < 0:
        raise ConfigError(f"--checkpoint-every must be 0 or more, got {checkpoint_every}")
    saving = StateFile(
        Path(state_file) if state_file else default_path(_home(output), sharded),
        resume,
        checkpoint_every,
    )
    if resume and count is None and days is None and not follow and finished(load(saving.path)):
        err_console.print(
            f"the run saved in {saving.path} has finished: give --days, --count or --follow to continue it",
            highlight=False,
        )
        return
    if not resume:
        _warn_if_replacing(saving.path)
    progress = SimulationProgress()
    stop = threading.Event()
    began = time.monotonic()
    with ExitStack() as stack:
        # Workers are forked first, while this process has no other thread: see simulate/workers.py.
        pool = _worker_pool(workers, stack)
        on_failure = None
        if metrics_port is not None:
            from pos_pipeline.metrics.exposition import serve
            from pos_pipeline.metrics.simulator import SimulatorMetrics

            metrics = SimulatorMetrics()
            progress.on_advance.append(metrics.emitted)
            on_failure = metrics.publish_errors.inc
            stack.callback(serve(metrics.registry, metrics_port, metrics_host).close)
        sink: Sink
        if output is Output.kafka:
            from pos_pipeline.broker.admin import ensure_topics
            from pos_pipeline.broker.producer import Publisher
            from pos_pipeline.services import resolve_bootstrap_servers

            settings = state.get_settings()
            bootstrap = resolve_bootstrap_servers(settings)
            ensure_topics(bootstrap, settings.kafka, [settings.topic, settings.inventory_topic], partitions)
            publisher = Publisher(bootstrap, settings.kafka, on_failure=on_failure)
            sink = KafkaSink(publisher, settings.topic, settings.inventory_topic)
            where = f"topic {settings.topic} at {bootstrap}"
        else:
            restocks = stack.enter_context(Path(inventory_file).open("wb")) if inventory_file else None
            if file == "-":
                sink = JsonLinesSink(sys.stdout.buffer, restocks)
                where = "stdout"
            else:
                sink = JsonLinesSink(stack.enter_context(Path(file).open("wb")), restocks)
                where = file
        stop_on_signals(stop)
        with ProgressLine(_progress_text(progress, began), quiet):
            emitted = run_simulation(options, sink, stop, progress, saving, pool or workers)
    seconds = time.monotonic() - began
    err_console.print(
        f"simulated {emitted} transactions to {where} in {seconds:.1f} s; "
        f"state saved in {saving.path} (continue with --resume)",
        highlight=False,
        soft_wrap=True,
    )


def _home(output: Output) -> Path:
    """``$POS_HOME``; a Kafka run reads (and checks) every setting first, as it needs them anyway."""
    return state.get_settings().home if output is Output.kafka else state.home()


def _worker_pool(workers: int, stack: ExitStack) -> WorkerPool | None:
    """The worker processes for ``--workers`` above one (at most one per store)."""
    count = min(workers, len(stores()))
    if count < 2:
        return None
    from pos_pipeline.simulate.workers import WorkerPool

    return stack.enter_context(WorkerPool(count))


def _warn_if_replacing(path: Path) -> None:
    """A fresh run replaces the saved one: say so when that one could still have been resumed."""
    try:
        saved = load(path)
    except ConfigError:
        return  # nothing there, or nothing resumable
    if not finished(saved) or saved.follow:
        err_console.print(
            f"warning: replacing the unfinished run saved in {path} (continue a run with --resume; "
            "--state FILE keeps runs apart)",
            highlight=False,
            soft_wrap=True,
        )


def _progress_text(progress: SimulationProgress, began: float) -> Callable[[], str]:
    """The simulator's progress line: simulated clock, published, rate, and the time left if known."""
    rate = Rate()

    def render() -> str:
        clock = "—"
        if progress.clock_ms is not None:
            at = datetime.fromtimestamp(progress.clock_ms / 1000, tz=UTC).astimezone(HEAD_OFFICE_ZONE)
            clock = f"{at:%Y-%m-%d %H:%M} ET"
        per_second = rate(progress.transactions)
        text = f"simulated clock {clock} · published {progress.transactions:,} · {per_second:,.0f} tx/s"
        if progress.live:
            text += " · live"
        done = progress.fraction()
        if done:
            elapsed = time.monotonic() - began
            text += f" · {done:.0%} · {duration(elapsed * (1 - done) / done)} left"
        return text

    return render


# The fast path's parser ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flag:
    """One of ``pos simulate``'s options as the fast parser reads it."""

    #: The keyword of :func:`simulate` it sets.
    name: str
    #: "int", "float", "str", "output", or "bool" (a flag: ``value`` is what it sets).
    kind: str
    value: bool = True


def _flags() -> dict[str, Flag]:
    flags = {f"--{name.replace('_', '-')}": Flag(name, kind) for name, kind in _VALUED}
    flags.update({"--state": Flag("state_file", "str")})
    flags.update({f"--{name}": Flag(name, "bool") for name in ("follow", "resume", "quiet")})
    flags.update(
        {
            "-q": Flag("quiet", "bool"),
            "--catch-up": Flag("catch_up", "bool", True),
            "--no-catch-up": Flag("catch_up", "bool", False),
        }
    )
    return flags


_VALUED = (
    ("count", "int"), ("days", "int"), ("start", "str"), ("checkpoint_every", "float"),
    ("rate", "float"), ("scale", "float"), ("speed", "float"), ("seed", "int"), ("output", "output"),
    ("file", "str"), ("partitions", "int"), ("inventory_file", "str"), ("metrics_port", "int"),
    ("metrics_host", "str"), ("workers", "int"), ("shard", "str"),
)  # fmt: skip
FLAGS = _flags()
# Only values whose meaning no parser can doubt; Typer decides the rest ("-5", "1e3", " 7", ...).
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_FLOAT = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?")


def parse(args: list[str]) -> dict[str, Any] | None:
    """The keywords of :func:`simulate` for ``pos simulate ARGS``, or None to leave them to Typer."""
    chosen: dict[str, Any] = {}
    given: set[str] = set()
    at = 0
    while at < len(args):
        token, at = args[at], at + 1
        name, equals, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        flag = FLAGS.get(name)
        if flag is None or flag.name in given:
            return None  # not an option of ours (help, a typo, an argument), or said twice
        given.add(flag.name)
        if flag.kind == "bool":
            if equals:
                return None
            chosen[flag.name] = flag.value
            continue
        if equals:
            value = inline
        elif at < len(args):
            value, at = args[at], at + 1
        else:
            return None
        if value.startswith("-") and value != "-":
            return None  # an option where a value belongs, or a negative number: Typer's call
        if flag.kind == "int":
            if not _INT.fullmatch(value):
                return None
            chosen[flag.name] = int(value)
        elif flag.kind == "float":
            if not _FLOAT.fullmatch(value):
                return None
            chosen[flag.name] = float(value)
        elif flag.kind == "output":
            if value not in Output.__members__:
                return None
            chosen[flag.name] = Output(value)
        else:
            chosen[flag.name] = value
    return chosen


def run_parsed(chosen: dict[str, Any]) -> None:
    """Run ``pos simulate`` with what :func:`parse` read, as Typer would have run it."""
    try:
        simulate(**chosen)
    except EOFError:
        # Typer's answers, so that both paths end alike (typer.core._main).
        print(file=sys.stderr)
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        import errno

        if exc.errno != errno.EPIPE:
            raise
        from typer._click.utils import PacifyFlushWrapper

        sys.stdout = PacifyFlushWrapper(sys.stdout)
        sys.stderr = PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
