"""Driving the chain simulator: which days, how fast, into which sink; saved as it goes, resumable.

A run is a walk over local days. Each day is generated whole from the stock at its start (the
engine is vectorised per store-day), so the run's state is saved at day starts: the day, every
store's stock, the run's end and pacing, and, for Kafka, where the topics ended. A run that
stopped cleanly also records how far into its day it got. A run that died is reconciled from the
topics themselves: what landed after its last checkpoint is read back and not sent again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from pos_pipeline.errors import ConfigError
from pos_pipeline.reference.catalogue import stores
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate import state as saved_state
from pos_pipeline.simulate.batch import TRANSACTION, DayBatch, Event, event_id, event_identity
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.shards import shard_stores
from pos_pipeline.simulate.sinks import JsonLinesSink, KafkaSink, Sink
from pos_pipeline.simulate.state import AFRESH, RunState, StateLock
from pos_pipeline.simulate.stock import StoreStock

if TYPE_CHECKING:
    from pos_pipeline.simulate.workers import WorkerPool

__all__ = [
    "CHECKPOINT_EVERY_S",
    "HEAD_OFFICE_ZONE",
    "JsonLinesSink",
    "KafkaSink",
    "SimulationOptions",
    "SimulationProgress",
    "Sink",
    "StateFile",
    "finished",
    "run_simulation",
]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# The chain's "today" for real-time runs; every store's local date is this one or a neighbour.
HEAD_OFFICE_ZONE = ZoneInfo("America/Toronto")
#: A backfill checkpoints at the first day start this long after the previous checkpoint.
CHECKPOINT_EVERY_S = 5.0
# Quiet intervals older than this before the run's day can no longer matter to any replay.
QUIET_KEPT_DAYS = 3


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """What to simulate: see ``pos simulate --help``. ``speed`` None means real time (1.0)."""

    seed: int = 1
    count: int | None = None
    days: int | None = None
    start: date | None = None
    rate: float | None = None
    scale: float = 1.0
    speed: float | None = None
    follow: bool = False
    catch_up: bool = True
    #: (K, N): generate only the K-th of N disjoint parts of the chain's stores.
    shard: tuple[int, int] | None = None

    def validate(self) -> None:
        """Raise ConfigError for values that cannot be simulated."""
        if self.count is not None and self.count < 0:
            raise ConfigError(f"--count must be 0 or more, got {self.count}")
        if self.days is not None and self.days < 1:
            raise ConfigError(f"--days must be at least 1, got {self.days}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError(f"--rate must be positive, got {self.rate}")
        if self.scale <= 0:
            raise ConfigError(f"--scale must be positive, got {self.scale}")
        if self.speed is not None and self.speed <= 0:
            raise ConfigError(f"--speed must be positive, got {self.speed}")
        if self.follow and (self.days is not None or self.count is not None):
            raise ConfigError("--follow runs until stopped: it cannot go with --days or --count")
        if self.follow and self.rate is not None:
            raise ConfigError("--follow keeps the chain's clock: it cannot go with --rate")
        if self.shard is not None and self.count is not None:
            raise ConfigError(
                "--count cannot go with --shard: a count cut across all stores cannot be split "
                "between shards (end a sharded run with --days)"
            )
        first = tax_table().first_date
        if self.start is not None and self.start < first:
            raise ConfigError(f"--start must be {first.isoformat()} or later (tax law is known from then)")


@dataclass(frozen=True, slots=True)
class StateFile:
    """Where a run saves its state, and whether it continues the run saved there."""

    path: Path
    resume: bool = False
    #: A backfill checkpoints at the first day start this long after its previous checkpoint.
    every_s: float = CHECKPOINT_EVERY_S


@dataclass
class SimulationProgress:
    """How far a run is, readable from another thread; ``on_advance`` sees every step (metrics)."""

    transactions: int = 0
    restocks: int = 0
    #: The simulated clock: the instant of the latest event emitted (UTC milliseconds).
    clock_ms: int | None = None
    #: The run's simulated span when its end is known by time (UTC milliseconds), for the time left.
    span_ms: tuple[int, int] | None = None
    #: The run's size when its end is known by count.
    count: int | None = None
    #: Whether the run is pacing itself to the clock (live), rather than going as fast as it can.
    live: bool = False
    on_advance: list[Callable[[int, int, int | None], None]] = field(default_factory=list)

    def advance(self, transactions: int, restocks: int, last_ms: int | None) -> None:
        """Count events just handed to the sink and move the clock to the last of them."""
        self.transactions += transactions
        self.restocks += restocks
        if last_ms is not None:
            self.clock_ms = last_ms
        for hook in self.on_advance:
            hook(transactions, restocks, last_ms)

    def fraction(self) -> float | None:
        """The share of the run done, when its end is known."""
        if self.count:
            return min(self.transactions / self.count, 1.0)
        if self.span_ms is not None and self.clock_ms is not None:
            first, end = self.span_ms
            return min(max((self.clock_ms - first) / (end - first), 0.0), 1.0)
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _local_midnight_ms(day: date) -> int:
    return int(datetime.combine(day, clock_time(), HEAD_OFFICE_ZONE).timestamp() * 1000)


def _head_office_date(utc_ms: int) -> date:
    return datetime.fromtimestamp(utc_ms / 1000, tz=UTC).astimezone(HEAD_OFFICE_ZONE).date()


def finished(course: RunState) -> bool:
    """Whether a saved run has reached its end (a live or followed run never does)."""
    if course.count_left is not None:
        return course.count_left <= 0
    if course.until_ms is not None:
        return course.clock_ms is not None and course.clock_ms >= course.until_ms - 1
    return course.until_day is not None and course.day >= course.until_day


def _fresh(options: SimulationOptions, sink: Sink) -> tuple[ChainSimulator, RunState]:
    """A new run, from ``--start`` or from now."""
    if options.shard is not None and options.start is None:
        raise ConfigError(
            "--shard needs --start: every shard must draw the same run, and a real-time run's "
            "stream depends on the instant it is launched (use --start with --follow to go live)"
        )
    speed = options.speed if options.speed is not None else 1.0
    now = _now_ms()
    # Each real-time run draws its own stream, so two runs never share transaction ids.
    origin = options.start.isoformat() if options.start is not None else str(now)
    material = f"{options.seed}:{origin}:{options.scale}"
    course = RunState(
        options.seed, options.scale, material, sink.kind, sink.topics(),
        day=options.start or _head_office_date(now), stock=[],
        count_left=options.count, speed=speed, rate=options.rate, follow=options.follow,
        shard=list(options.shard) if options.shard is not None else None,
    )  # fmt: skip
    if options.start is not None:
        if options.days is not None:
            course.until_day = options.start + timedelta(days=options.days)
    else:
        course.anchor_sim_ms = course.anchor_wall_ms = now
        course.follow = True
        course.quiet = [(0, now)]  # the chain opens for business now: nothing is rung up before
        if options.days is not None:
            course.until_ms = now + options.days * DAY_MS
            # The window ends part-way through a local day: the day after covers every time zone.
            course.until_day = _head_office_date(course.until_ms) + timedelta(days=2)
    return _simulator(course), course


def _simulator(course: RunState) -> ChainSimulator:
    """The simulator of a run: the whole chain, or its shard's stores."""
    if course.shard is None:
        return ChainSimulator(course.seed_material, course.scale)
    areas = [s.floor_area_m2 for s in stores()]
    kept, of = course.shard
    return ChainSimulator(course.seed_material, course.scale, shard_stores((kept, of), areas))


def _target_ms(course: RunState, now_ms: int) -> int:
    """The simulated instant due at wall-clock ``now_ms``: real now until the run first goes live."""
    if course.anchor_sim_ms is None or course.anchor_wall_ms is None:
        return now_ms
    return course.anchor_sim_ms + int((now_ms - course.anchor_wall_ms) * course.speed)


def _resumed(saved: RunState, options: SimulationOptions, sink: Sink) -> RunState:
    """The saved run, with the end, pacing and speed this invocation asks for."""
    course = replace(saved, closed=False, quiet=list(saved.quiet))
    now = _now_ms()
    if options.speed is not None and options.speed != course.speed:
        if course.anchor_sim_ms is not None:
            # The clock keeps its place and runs at the new speed from now on.
            course.anchor_sim_ms, course.anchor_wall_ms = _target_ms(course, now), now
        course.speed = options.speed
    if options.rate is not None:
        course.rate = options.rate
    if options.days is not None:
        course.count_left = None
        if course.anchor_sim_ms is not None:
            course.until_ms = max(_target_ms(course, now), course.clock_ms or 0) + options.days * DAY_MS
            course.until_day = _head_office_date(course.until_ms) + timedelta(days=2)
        else:
            course.until_day = course.day + timedelta(days=options.days)
            course.until_ms, course.follow = None, False
    elif options.count is not None:
        course.count_left, course.until_day, course.until_ms = options.count, None, None
    if options.follow:
        course.follow, course.count_left, course.until_day, course.until_ms = True, None, None, None
    saved_shard = tuple(saved.shard) if saved.shard is not None else None
    if options.shard is not None and options.shard != saved_shard:
        what = f"shard {saved_shard[0]}/{saved_shard[1]}" if saved_shard else "the whole chain"
        raise ConfigError(f"the saved run is {what}: resume it with the same --shard (or none)")
    if saved_shard is not None and course.count_left is not None:
        raise ConfigError("--count cannot go with --shard: end a sharded run with --days")
    elsewhere = saved.output != sink.kind or (sink.kind == "kafka" and saved.topics != sink.topics())
    if not saved.closed and elsewhere:
        where = ", ".join(saved.topics) if saved.topics else saved.output
        raise ConfigError(f"the interrupted run wrote to {where}: resume it to the same output")
    return course


class DaySource(Protocol):
    """Where a run's days come from: this process (``ChainSimulator``) or worker processes."""

    #: Every store's stock after the last day given out (a day's start, for checkpoints).
    stock: list[StoreStock]

    def pieces(self, day: date) -> Iterator[DayBatch]:
        """The events of ``day``, the day after the last one given out, in time-ordered slices."""
        ...


class _Run:
    """One invocation's walk over the days, saving as it goes."""

    def __init__(
        self,
        simulator: ChainSimulator,
        course: RunState,
        sink: Sink,
        stop: threading.Event | None,
        progress: SimulationProgress,
        path: Path | None,
        every_s: float = CHECKPOINT_EVERY_S,
    ) -> None:
        self.simulator, self.course, self.sink = simulator, course, sink
        self.stop, self.progress, self.path = stop, progress, path
        self.every_s = every_s
        #: Where the walk's days come from (this process, unless workers are given).
        self.source: DaySource = simulator
        self.emitted = 0
        #: Ids that landed after the last checkpoint of a run that died, by local date.
        self.landed: dict[date, set[bytes]] = {}
        self.day_stock: list[StoreStock] = _copy(simulator.stock)
        self.exact = True  # the current day's emitted events are a prefix, as the state says
        self.last_checkpoint = time.monotonic()
        self.started = time.monotonic()

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    # Saving ----------------------------------------------------------------------------

    def _save(self, course: RunState, stock: list[StoreStock]) -> None:
        if self.path is not None:
            course.stock = [s.saved() for s in stock]
            saved_state.save(self.path, course)

    def checkpoint(self) -> None:
        """Make everything sent so far acknowledged, and record the day start as the place to resume."""
        if self.path is None:
            return  # nowhere to resume from: no need to wait for acknowledgements
        offsets = self.sink.checkpoint()
        self.course.offsets = offsets
        self.course.closed = False
        self._save(self.course, self.day_stock)
        self.last_checkpoint = time.monotonic()

    def close(self) -> None:
        """After a clean stop: the exact position, if it is one; else the checkpoint stays the truth."""
        if self.exact and not self.landed:
            self.course.closed = True
            self._save(self.course, self.day_stock)

    # Reconciling a run that died ---------------------------------------------------------

    def collect_landed(self, saved: RunState) -> None:
        """Read back what the dead run's producer got onto the topics after its last checkpoint."""
        if saved.offsets is None:
            return
        first = saved.day

        def visit(value: bytes) -> None:
            identity = event_identity(value)
            if identity is not None and identity[0] >= first:
                self.landed.setdefault(identity[0], set()).add(identity[1])

        # The sink hands over only this run's messages (by their run header), not other producers'.

        if not self.sink.landed_since(saved.offsets, visit):
            log.warning(
                "the previous run did not stop cleanly and %s output cannot be read back: "
                "events after its last checkpoint (%s) are written again",
                self.sink.kind,
                saved.day.isoformat(),
            )
            self.landed = {}
        else:
            total = sum(len(ids) for ids in self.landed.values())
            log.info("the previous run did not stop cleanly: %d of its events after %s landed", total, first)

    def last_landed_ms(self) -> int | None:
        """The latest instant of what the dead run got out (generating its days once more, dry)."""
        course = self.course
        latest, day, pending = course.clock_ms, course.day, dict(self.landed)
        while pending:
            ids = pending.pop(day, set())
            batch = self.simulator.day(day)
            if day == course.day:
                batch = batch.skip(course.day_transactions, course.day_restocks)
            times = [t for v, t in zip(batch.values, batch.utc_ms, strict=True) if event_id(v) in ids]
            times += [r.utc_ms for r in batch.restocks if event_id(r.value) in ids]
            latest = max([*times, latest]) if latest is not None else max(times, default=None)
            day += timedelta(days=1)
        self.simulator.stock = _copy(self.day_stock)
        return latest

    # The walk --------------------------------------------------------------------------------

    def walk(self) -> None:
        course = self.course
        while not self.stopped():
            if finished(course):
                break
            if self.exact and not self.landed and time.monotonic() - self.last_checkpoint >= self.every_s:
                self.checkpoint()
            ids = self.landed.pop(course.day, set())
            for old in [d for d in self.landed if d < course.day]:
                del self.landed[old]
            if not self._walk_day(ids):
                break  # stopped, or the run's end fell inside the day
            self._next_day()

    def _walk_day(self, ids: set[bytes]) -> bool:
        """Emit the rest of the course's day, slice by slice; whether all of it went out."""
        course = self.course
        # What was emitted of the day before (a resumed run) is the first of its events.
        skip_transactions, skip_restocks = course.day_transactions, course.day_restocks
        for piece in self.source.pieces(course.day):
            transactions = min(skip_transactions, piece.transactions)
            restocks = min(skip_restocks, len(piece.restocks))
            piece = piece.skip(transactions, restocks)
            skip_transactions, skip_restocks = skip_transactions - transactions, skip_restocks - restocks
            if ids:
                self.exact = False
                piece, transactions, restocks = piece.without(ids)
                self._count(transactions, restocks, None)
            whole = piece.transactions + len(piece.restocks)
            if course.until_ms is not None:
                piece = piece.after(0, course.until_ms)
            if course.count_left is not None:
                piece = piece.head(course.count_left)
            transactions, restocks = self._emit(piece)
            if transactions + restocks < whole:
                return False
        return True

    def _next_day(self) -> None:
        course = self.course
        course.day += timedelta(days=1)
        course.day_transactions = course.day_restocks = 0
        horizon = _local_midnight_ms(course.day) - QUIET_KEPT_DAYS * DAY_MS
        course.quiet = [q for q in course.quiet if q[1] > horizon]
        self.simulator.quiet = list(course.quiet)
        self.day_stock = _copy(self.source.stock)
        self.exact = True

    def _count(self, transactions: int, restocks: int, last_ms: int | None) -> None:
        course = self.course
        course.day_transactions += transactions
        course.day_restocks += restocks
        course.transactions += transactions
        course.restocks += restocks
        if course.count_left is not None:
            course.count_left -= transactions
        if last_ms is not None:
            course.clock_ms = max(last_ms, course.clock_ms or last_ms)

    def _emit(self, batch: DayBatch) -> tuple[int, int]:
        course = self.course
        if course.rate is not None:
            return self._emit_each(batch, self._rate_due)
        if course.anchor_sim_ms is None and not course.follow:
            return self._emit_day(batch)
        past, future = batch.split(_target_ms(course, _now_ms()) + 1)
        transactions, restocks = self._emit_day(past)
        if future.transactions or future.restocks:
            more = self._emit_each(future, self._clock_due)
            transactions, restocks = transactions + more[0], restocks + more[1]
        return transactions, restocks

    def _emit_day(self, batch: DayBatch) -> tuple[int, int]:
        if not batch.transactions and not batch.restocks:
            return 0, 0
        self.sink.write_day(batch)
        transactions, restocks = batch.transactions, len(batch.restocks)
        self.emitted += transactions
        last = batch.last_ms()
        self._count(transactions, restocks, last)
        self.progress.advance(transactions, restocks, last)
        return transactions, restocks

    def _emit_each(self, batch: DayBatch, due: Callable[[Event], float | None]) -> tuple[int, int]:
        transactions = restocks = 0
        for event in batch.events():
            if self.stopped():
                break
            is_sale = event.kind == TRANSACTION
            wait = due(event)
            if wait is not None and wait > 0:
                if self.stop is not None:
                    self.stop.wait(wait)
                else:
                    time.sleep(wait)
                if self.stopped():
                    break  # woken to stop: the event is not emitted
            self.sink.write_event(event)
            transactions += is_sale
            restocks += not is_sale
            self.emitted += is_sale
            self._count(int(is_sale), int(not is_sale), event.utc_ms)
            self.progress.advance(int(is_sale), int(not is_sale), event.utc_ms)
        return transactions, restocks

    def _rate_due(self, event: Event) -> float | None:
        """A steady rate paces the checkouts; restocks go out between them."""
        if event.kind != TRANSACTION:
            return None
        assert self.course.rate is not None
        if self.emitted == 0:
            # The rate counts from the first checkout, not from the start: generating the first
            # day takes a while, and counting it would send that while's worth in one burst.
            self.started = time.monotonic()
        return self.started + self.emitted / self.course.rate - time.monotonic()

    def _clock_due(self, event: Event) -> float | None:
        """The clock paces every event: each is due when the simulated clock reaches its instant."""
        course, now = self.course, _now_ms()
        if course.anchor_sim_ms is None or course.anchor_wall_ms is None:
            if event.utc_ms <= now:
                return None  # still backfilling the past
            # The backfill has caught up with the present: from here on the clock is live.
            course.anchor_sim_ms = course.anchor_wall_ms = now
            self.progress.live = True
            self._save_anchor()
        due_ms = course.anchor_wall_ms + (event.utc_ms - course.anchor_sim_ms) / course.speed
        return (due_ms - now) / 1000

    def _save_anchor(self) -> None:
        """Record the switch to live in the saved checkpoint (its position does not move)."""
        if self.path is None or not self.path.exists():
            return
        saved = saved_state.load(self.path)
        saved.anchor_sim_ms, saved.anchor_wall_ms = self.course.anchor_sim_ms, self.course.anchor_wall_ms
        saved_state.save(self.path, saved)


def _copy(stock: list[StoreStock]) -> list[StoreStock]:
    """A copy that later sales and deliveries cannot touch (they replace or mutate the arrays)."""
    return [
        StoreStock(
            s.on_hand.copy(), s.reorder_point, s.order_up_to, s.lead_days, list(s.pending), s.on_order.copy()
        )
        for s in stock
    ]


def _span(course: RunState) -> tuple[int, int] | None:
    """The run's simulated span, when a day or an instant ends it (head-office days: close enough)."""
    first = course.clock_ms if course.clock_ms is not None else _local_midnight_ms(course.day)
    if course.until_ms is not None:
        return first, course.until_ms
    if course.until_day is not None:
        return first, _local_midnight_ms(course.until_day)
    return None


def run_simulation(
    options: SimulationOptions,
    sink: Sink,
    stop: threading.Event | None = None,
    progress: SimulationProgress | None = None,
    state: StateFile | None = None,
    workers: int | WorkerPool = 1,
) -> int:
    """Generate into ``sink`` until the run's end or ``stop``; return the transactions emitted.

    With ``state``, the run saves its state there as it goes, and with ``state.resume`` it
    continues the run saved there. With ``workers`` (a count above one, or a pool made
    beforehand, best before any thread starts) the days are generated in worker processes;
    the output is the same bytes.
    """
    options.validate()
    if isinstance(workers, int) and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    progress = progress if progress is not None else SimulationProgress()
    with StateLock(state.path) if state is not None else _no_lock(), ExitStack() as stack:
        saved = saved_state.load(state.path) if state is not None and state.resume else None
        if saved is not None:
            course = _resumed(saved, options, sink)
            simulator = _simulator(course)
            _restore(simulator, saved, state.path if state else Path("?"))
        else:
            simulator, course = _fresh(options, sink)
        simulator.quiet = list(course.quiet)
        sink.label(run_id(course.seed_material))
        run = _Run(
            simulator,
            course,
            sink,
            stop,
            progress,
            state.path if state else None,
            state.every_s if state else CHECKPOINT_EVERY_S,
        )
        progress.count = course.count_left
        progress.span_ms = _span(course)
        progress.live = course.anchor_sim_ms is not None
        try:
            if saved is not None and not saved.closed:
                run.collect_landed(saved)
            if saved is not None and not options.catch_up and course.anchor_sim_ms is not None:
                _skip_outage(run)
            if not run.landed:
                run.checkpoint()
            pool = _pool(workers, len(simulator.active), stack)
            if pool is not None:
                days = pool.days(simulator, course.day, course.until_day)
                stack.callback(days.close)
                run.source = days
            run.walk()
        finally:
            sink.close()
        run.close()
        return run.emitted


def _pool(workers: int | WorkerPool, stores: int, stack: ExitStack) -> WorkerPool | None:
    """The pool to generate in, if any (one made here is closed with ``stack``)."""
    if not isinstance(workers, int):
        return workers
    if min(workers, stores) < 2:
        return None
    from pos_pipeline.simulate.workers import WorkerPool

    return stack.enter_context(WorkerPool(min(workers, stores)))


def run_id(seed_material: str) -> str:
    """A short name for a run's stream, the same for every piece of it."""
    return hashlib.sha256(seed_material.encode()).hexdigest()[:16]


def _skip_outage(run: _Run) -> None:
    """--no-catch-up: nothing is rung up between what the last run got out and the clock's now."""
    course = run.course
    since = run.last_landed_ms() if run.landed else course.clock_ms
    since = since if since is not None else course.anchor_sim_ms
    until = _target_ms(course, _now_ms())
    if since is not None and until > since + 1:
        course.quiet.append((since + 1, until))
        run.simulator.quiet = list(course.quiet)
        log.info("skipping the outage: nothing rung up for %.0f simulated minutes", (until - since) / 60_000)


def _restore(simulator: ChainSimulator, saved: RunState, where: Path) -> None:
    if len(saved.stock) != len(simulator.stock):
        raise ConfigError(
            f"the simulator state {where} has {len(saved.stock)} stores, the chain has {len(simulator.stock)}"
        )
    try:
        for stock, data in zip(simulator.stock, saved.stock, strict=True):
            stock.restore(data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(f"the simulator state {where} is corrupt ({exc}): {AFRESH}") from None


class _no_lock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
