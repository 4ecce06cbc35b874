"""Generating one run's store-days in several processes, merged into the one-process order.

Each worker owns a fixed set of stores and carries their stock from day to day, so a store-day
depends only on the seed and that store's earlier days, wherever it is generated. Per day, a
worker sends the parent only what ordering needs: each checkout's instant, store and length.
The parent merges those by (instant, store), exactly as one process orders a day, and tells
each worker where its checkouts go in a buffer shared by all; the workers write their bodies
straight there, and the parent hands the buffer to its sink as the day's lines. So the parent,
the single writer, never copies or splits a body, and the bytes are the one-process bytes.

Workers are forked (the ``fork`` start method) when the pool is made, before the command starts
any thread (producer, metrics server, progress line): a fork is then safe, and it costs
milliseconds where ``spawn`` or ``forkserver`` would import NumPy and the engine again in every
worker. They ignore SIGINT and SIGTERM (the parent stops them, and a Ctrl-C reaches the whole
process group), and exit on their own when the parent's end of their pipe closes.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from pos_pipeline.errors import PosError
from pos_pipeline.simulate.batch import DayBatch, Encoded, Event
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.shards import balanced_parts
from pos_pipeline.simulate.stock import StoreStock

#: A worker generates at most this many days ahead of the one the parent is writing.
LOOKAHEAD_DAYS = 2
NEWLINE = ord("\n")
#: Shared files grow by whole multiples of this.
GROWTH = 1 << 20
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux only


class WorkerError(PosError):
    """A simulator worker failed or died; the run cannot go on."""


@dataclass(frozen=True, slots=True)
class _Day:
    """What a worker tells the parent about its stores' day (its checkouts in its own order)."""

    ordinal: int
    utc_ms: np.ndarray
    stores: np.ndarray
    #: Each body's length plus its newline.
    lengths: np.ndarray
    restocks: list[tuple[int, Event]]
    #: Its stores' stock after the day (for the parent's checkpoints).
    stock: dict[int, StoreStock]


class _Shared:
    """An anonymous file every process maps (made before the fork, so every worker has it)."""

    def __init__(self, name: str) -> None:
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create(name)
        else:  # not Linux: an unlinked temporary file does the same
            with tempfile.TemporaryFile() as file:
                self.fd = os.dup(file.fileno())
        self.size = 0
        self.map: mmap.mmap | None = None

    def fit(self, size: int) -> None:
        """Make the file (and this process's mapping) at least ``size`` bytes."""
        if size > self.size:
            # With room to spare: every new mapping is faulted in again by every process that
            # writes it (a day's 170 MB is 40,000 pages), and days differ in size.
            size = -(-size * 5 // 4 // GROWTH) * GROWTH
            os.ftruncate(self.fd, size)
            self.attach(size, populate=False)

    def attach(self, size: int, populate: bool = True) -> None:
        """Map the file's first ``size`` bytes (an earlier mapping lives on while views use it).

        ``populate``: map every page now, in one call, rather than a page fault at a time as
        they are written (the workers write all of them; the parent may read none, to /dev/null).
        """
        if size > self.size or self.map is None:
            self.size = size
            flags = mmap.MAP_SHARED | (_POPULATE if populate else 0)
            self.map = mmap.mmap(self.fd, size, flags=flags)


# The worker's side -------------------------------------------------------------------------------


def _serve(connection: Connection, lines: _Shared, starts: _Shared, inherited: list[Connection]) -> None:
    """A worker's life: runs as the parent asks, until it says exit or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for other in inherited:  # the other workers' pipes: keep only our own, so EOFs mean what they say
        other.close()
    # What the parent had buffered for its streams must not be written twice.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    try:
        # The chain's tables, made while the parent prepares the run (they are kept for every run).
        _ = ChainSimulator("", 1.0, []).lines
        while True:
            message = connection.recv()
            if message[0] == "exit":
                return
            if message[0] == "run" and not _run(connection, lines, starts, *message[1:]):
                return
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent is gone or done
    except BaseException as exc:  # anything else ends the run: say what, in one line
        with contextlib.suppress(OSError):
            connection.send(("error", f"{type(exc).__name__}: {exc}"))
        os._exit(1)


def _run(
    connection: Connection,
    lines: _Shared,
    starts: _Shared,
    seed_material: str,
    scale: float,
    indices: list[int],
    stock: dict[int, StoreStock],
    quiet: list[tuple[int, int]],
    first: date,
    end: date | None,
) -> bool:
    """Generate days from ``first`` until the parent ends the run; False if it said exit."""
    simulator = ChainSimulator(seed_material, scale, indices)
    for index, store_stock in stock.items():
        simulator.stock[index] = store_stock
    simulator.quiet = quiet
    pending: deque[tuple[int, list[bytes], np.ndarray]] = deque()
    day = first
    while True:
        # Not past the run's end: a day made ahead and never written would be wasted work.
        while len(pending) < LOOKAHEAD_DAYS and (end is None or day < end):
            # Unmerged, in store order: the parent orders the whole day by (instant, store), and
            # its stable sort keeps each store's own order, so merging here (as
            # ChainSimulator.pieces does, slice by slice) would be wasted work.
            made = simulator.store_days(day)
            values: list[bytes] = []
            for _, bodies, _, _ in made:
                values += bodies
            stores = np.repeat(
                np.array([index for index, *_ in made], dtype=np.int64), [len(m[1]) for m in made]
            )
            utc = np.concatenate([m[2] for m in made]).astype(np.int64, copy=False)
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values)) + 1
            restocks = [(index, restock) for index, _, _, restock in made if restock is not None]
            after = {i: simulator.stock[i] for i in simulator.active}
            ordinal = day.toordinal()
            connection.send(("day", _Day(ordinal, utc, stores, lengths, restocks, after)))
            pending.append((ordinal, values, lengths))
            day += timedelta(days=1)
        message = connection.recv()
        if message[0] == "exit":
            return False
        if message[0] == "end":
            connection.send(("ended",))
            return True
        ordinal, size, starts_size = message[1:]
        placed, values, lengths = pending.popleft()
        assert placed == ordinal, (placed, ordinal)
        if values:
            starts.attach(starts_size)
            assert starts.map is not None
            _place(lines, size, values, np.frombuffer(starts.map, dtype=np.int64, count=len(values)), lengths)
        connection.send(("placed", ordinal))


def _place(lines: _Shared, size: int, values: list[bytes], starts: np.ndarray, lengths: np.ndarray) -> None:
    """Write each body at its start in the shared file, and a newline after it."""
    lines.attach(size)
    assert lines.map is not None
    view = memoryview(lines.map)
    ends = starts + lengths - 1
    for start, end, value in zip(starts.tolist(), ends.tolist(), values, strict=True):
        view[start:end] = value
    np.frombuffer(lines.map, dtype=np.uint8)[ends] = NEWLINE
    view.release()


# The parent's side -------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    number: int
    days: dict[int, _Day] = field(default_factory=dict)
    #: Messages read but not asked for yet (other than day reports).
    inbox: deque[tuple[Any, ...]] = field(default_factory=deque)

    def died(self) -> WorkerError:
        """The error to raise when this worker's pipe has closed: how it ended."""
        self.process.join(timeout=5)
        code = self.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return WorkerError(f"simulator worker {self.number} (pid {self.process.pid}) died ({how})")

    def send(self, message: tuple[Any, ...]) -> None:
        """Send ``message``; WorkerError if the worker is gone."""
        try:
            self.connection.send(message)
        except OSError:  # an EPIPE must not reach the CLI, which takes it for a closed stdout
            raise self.died() from None

    def take(self) -> None:
        """Read one message: a day report is kept by day, anything else in the inbox."""
        try:
            message = self.connection.recv()
        except (EOFError, OSError):
            raise self.died() from None
        if message[0] == "error":
            raise WorkerError(f"simulator worker {self.number} failed: {message[1]}")
        if message[0] == "day":
            self.days[message[1].ordinal] = message[1]
        else:
            self.inbox.append(message)

    def has(self, kind: str) -> bool:
        """Whether a message of ``kind`` has been read and not taken out yet."""
        return any(message[0] == kind for message in self.inbox)

    def receive(self, kind: str) -> Any:
        """The next message of ``kind`` (day reports that come first are kept for later)."""
        while not self.has(kind):
            self.take()
        message = next(m for m in self.inbox if m[0] == kind)
        self.inbox.remove(message)
        return message[1] if len(message) > 1 else None


def _gather(workers: Sequence[_Worker], done: Callable[[_Worker], bool]) -> None:
    """Read from whichever of ``workers`` has something to say until ``done`` holds for each.

    A worker's report waits in its pipe until it is read, and the worker in ``send`` meanwhile,
    not generating its next day: reading the workers in a fixed order would keep one that is
    ahead stalled behind one that is not (0.3 to 0.7 s of a 6 s run for each worker, measured).
    """
    waiting = {worker.connection: worker for worker in workers if not done(worker)}
    while waiting:
        for ready in wait(list(waiting)):
            worker = waiting[ready]  # type: ignore[index]
            worker.take()
            if done(worker):
                del waiting[ready]  # type: ignore[arg-type]


class WorkerPool:
    """``count`` worker processes, forked now; give it to ``run_simulation`` to use them."""

    def __init__(self, count: int) -> None:
        if count < 2:
            raise ValueError(f"a pool needs at least two workers, got {count}")
        self.lines = _Shared("pos-simulate-lines")
        # Where each worker's checkouts go: shared too, since a pipe can hold only so much unread,
        # and a worker may be busy sending its next day when the parent places this one.
        self.starts = [_Shared(f"pos-simulate-starts-{n}") for n in range(1, count + 1)]
        context = multiprocessing.get_context("fork")
        sys.stdout.flush()
        sys.stderr.flush()
        self.workers: list[_Worker] = []
        try:
            for number in range(1, count + 1):
                parent_end, child_end = context.Pipe()
                inherited = [w.connection for w in self.workers] + [parent_end]
                process = context.Process(
                    target=_serve,
                    args=(child_end, self.lines, self.starts[number - 1], inherited),
                    name=f"pos-simulate-worker-{number}",
                    daemon=True,
                )
                process.start()
                child_end.close()
                self.workers.append(_Worker(process, parent_end, number))
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        """How many workers the pool has."""
        return len(self.workers)

    def days(self, simulator: ChainSimulator, first: date, end: date | None = None) -> ParallelDays:
        """A day source that generates ``simulator``'s run from ``first`` (until ``end``) in the workers."""
        return ParallelDays(self, simulator, first, end)

    def close(self) -> None:
        """Stop every worker and wait for it (killing any that does not stop)."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.connection.send(("exit",))
            worker.connection.close()  # a worker blocked writing to us gets EPIPE and exits
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self.workers = []
        for shared in [self.lines, *self.starts]:
            os.close(shared.fd)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ParallelDays:
    """The run's days from the pool's workers: ``pieces`` as ``ChainSimulator.pieces`` gives them."""

    def __init__(self, pool: WorkerPool, simulator: ChainSimulator, first: date, end: date | None) -> None:
        self.pool = pool
        self.stock = list(simulator.stock)
        self.keys: Sequence[bytes] = simulator.keys
        self.stores = len(simulator.stores)
        self.next = first
        self.workers = pool.workers[: len(simulator.active)]
        parts = balanced_parts(
            [simulator.stores[i].floor_area_m2 for i in simulator.active], len(self.workers)
        )
        for worker, part in zip(self.workers, parts, strict=True):
            indices = [simulator.active[p] for p in part]
            stock = {i: simulator.stock[i] for i in indices}
            run = (
                "run",
                simulator.seed_material,
                simulator.scale,
                indices,
                stock,
                list(simulator.quiet),
                first,
                end,
            )
            worker.send(run)
        self.running = True

    def pieces(self, day: date) -> Iterator[DayBatch]:
        """The whole of ``day`` as one batch; valid until the next day is asked for."""
        if day != self.next:
            raise ValueError(f"the workers are at {self.next}, not {day}")
        self.next = day + timedelta(days=1)
        yield self._merge(day.toordinal())

    def _merge(self, ordinal: int) -> DayBatch:
        _gather(self.workers, lambda worker: ordinal in worker.days)
        reports = [worker.days.pop(ordinal) for worker in self.workers]
        utc = np.concatenate([r.utc_ms for r in reports])
        stores = np.concatenate([r.stores for r in reports])
        lengths = np.concatenate([r.lengths for r in reports])
        # One process orders a day by instant, then store, then the store's own order: so here.
        order = np.argsort(utc * self.stores + stores, kind="stable")
        ends = np.cumsum(lengths[order])
        starts = np.empty_like(ends)
        starts[order] = ends - lengths[order]
        size = int(ends[-1]) if len(ends) else 0
        self.pool.lines.fit(size)
        at = 0
        for worker, report in zip(self.workers, reports, strict=True):
            count = len(report.lengths)
            shared = self.pool.starts[worker.number - 1]
            if count:
                shared.fit(8 * count)
                assert shared.map is not None
                np.frombuffer(shared.map, dtype=np.int64, count=count)[:] = starts[at : at + count]
            # Small messages only: the parent never blocks writing to a worker that is writing to it.
            worker.send(("place", ordinal, self.pool.lines.size, shared.size))
            at += count
        _gather(self.workers, lambda worker: worker.has("placed"))
        for worker in self.workers:
            worker.receive("placed")
        for report in reports:
            for index, store_stock in report.stock.items():
                self.stock[index] = store_stock
        restocks = sorted(
            (r for report in reports for r in report.restocks), key=lambda r: (r[1].utc_ms, r[0])
        )
        mapping = self.pool.lines.map
        lines = memoryview(mapping)[:size] if mapping is not None else memoryview(b"")
        checkouts = Encoded(lines, ends, utc[order], stores[order], self.keys)
        return DayBatch.encoded(checkouts, [r for _, r in restocks])

    def close(self) -> None:
        """End the run in the workers (they stay, ready for another)."""
        if not self.running:
            return
        self.running = False
        # After a worker failed, the pool is closed next anyway: nothing more to wait for.
        with contextlib.suppress(OSError, WorkerError):
            for worker in self.workers:
                worker.send(("end",))
            for worker in self.workers:
                worker.receive("ended")
