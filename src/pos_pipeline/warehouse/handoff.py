"""Handing checked batches from the polling thread to the loading thread, group-commit style.

The polling thread reads and checks messages and adds them to the batch that is filling; the
loading thread takes the whole filling batch the moment it is free, loads and commits it, and
hands it back as done. Nobody waits for a batch to fill: at a trickle a batch is whatever arrived
while the one before it was loading (so freshness is about two load times), over a backlog it is
as large as the polling thread can fill while the loader works. Offsets are committed by the
polling thread, from the batches handed back, never by the loading thread: in a rebalance
librdkafka runs the revoke callback on the polling thread and holds the group's other requests,
a commit included, until it returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pos_pipeline.warehouse.checked_receipt import CheckedReceipt
from pos_pipeline.warehouse.restock_loader import IncomingRestock


@dataclass(slots=True)
class CheckedBatch:
    """Messages read and checked: what to load, and the offsets to commit once it is loaded."""

    good: list[CheckedReceipt] = field(default_factory=list)
    restocks: list[IncomingRestock] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: int = 0

    def extend(self, other: CheckedBatch) -> None:
        """Add ``other``, read after this batch, to it."""
        self.good.extend(other.good)
        self.restocks.extend(other.restocks)
        for key, offset in other.offsets.items():
            self.offsets[key] = max(self.offsets.get(key, -1), offset)
        self.messages += other.messages


class LoadAbandoned(Exception):
    """The loader gave a batch up (stopped during a database outage): nothing after it may commit."""


class LoadQueue:
    """One batch loading in its own thread while the next one fills; the loaded ones handed back.

    ``load`` returns False when it gives a batch up, and may raise: either way the queue stops
    taking batches, and ``take_done`` raises (``LoadAbandoned`` or the error) once the batches
    loaded before it have been taken.
    """

    def __init__(self, load: Callable[[CheckedBatch], bool]) -> None:
        self._load = load
        self._cond = threading.Condition()
        self._filling: CheckedBatch | None = None
        self._busy = False
        self._done: list[CheckedBatch] = []
        self._failure: BaseException | None = None
        self._closed = False
        # psycopg releases the GIL while it waits for the server, librdkafka while it waits for
        # the broker: loading one batch and reading the next overlap.
        self._thread = threading.Thread(target=self._serve, name="pos-load", daemon=True)
        self._thread.start()

    @property
    def filling(self) -> int:
        """Messages in the batch that is filling."""
        with self._cond:
            return self._filling.messages if self._filling is not None else 0

    def put(self, batch: CheckedBatch) -> None:
        """Add ``batch`` to the one filling (or start it); the loading thread takes it when free."""
        with self._cond:
            if self._filling is None:
                self._filling = batch
            else:
                self._filling.extend(batch)
            self._cond.notify_all()

    def wait_for_room(self, capacity: int, timeout: float) -> bool:
        """Wait (at most ``timeout``) until the filling batch holds fewer than ``capacity`` messages."""
        with self._cond:
            return self._cond.wait_for(
                lambda: (
                    self._failure is not None or self._filling is None or self._filling.messages < capacity
                ),
                timeout,
            )

    def drain(self) -> None:
        """Wait until everything put has been loaded (or the loader has failed)."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._failure is not None or (self._filling is None and not self._busy)
            )

    def take_done(self) -> list[CheckedBatch]:
        """The batches loaded since the last call, oldest first; raises once the loader has failed."""
        with self._cond:
            done, self._done = self._done, []
            if not done and self._failure is not None:
                raise self._failure
            return done

    def close(self) -> None:
        """Stop the loading thread after the batch it is loading (what is still filling is dropped)."""
        with self._cond:
            self._closed = True
            self._filling = None
            self._cond.notify_all()
        self._thread.join()

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._filling is not None)
                if self._filling is None:
                    return
                batch, self._filling = self._filling, None
                self._busy = True
                self._cond.notify_all()
            failure: BaseException | None = None
            try:
                if not self._load(batch):
                    failure = LoadAbandoned()
            except BaseException as exc:  # handed to the polling thread, which raises it
                failure = exc
            with self._cond:
                self._busy = False
                if failure is None:
                    self._done.append(batch)
                else:
                    self._failure = failure
                self._cond.notify_all()
            if failure is not None:
                return
