"""A day's events (or a time slice of them), in UTC order, as the run hands them to its sink.

A batch holds its checkouts either as lists (keys, bodies, instants) or, when worker processes
made them, as one buffer of newline-terminated bodies with their ends, instants and stores: a
sink that writes lines writes that buffer whole, and nothing is split or copied unless asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

TRANSACTION = "transaction"
RESTOCK = "restock"


@dataclass(frozen=True, slots=True)
class Event:
    """One message: its kind, key, JSON body and UTC instant in milliseconds."""

    kind: str
    key: bytes
    value: bytes
    utc_ms: int


@dataclass(frozen=True, slots=True)
class Encoded:
    """Checkouts as one buffer: bodies each followed by a newline, in order."""

    lines: memoryview
    #: Where each body's line ends in ``lines`` (just after its newline).
    ends: np.ndarray
    utc_ms: np.ndarray
    #: Store index per checkout, and each store's key.
    stores: np.ndarray
    keys: Sequence[bytes]

    def __len__(self) -> int:
        return len(self.ends)

    def slice(self, first: int, last: int) -> Encoded:
        """Checkouts ``first`` to ``last`` (exclusive)."""
        begin = int(self.ends[first - 1]) if first > 0 else 0
        end = int(self.ends[last - 1]) if last > first else begin
        return Encoded(
            self.lines[begin:end],
            self.ends[first:last] - begin,
            self.utc_ms[first:last],
            self.stores[first:last],
            self.keys,
        )

    def values(self) -> list[bytes]:
        """Every body, as its own bytes."""
        return bytes(self.lines).split(b"\n")[: len(self.ends)]


class DayBatch:
    """A day's checkouts in UTC order (as parallel lists, cheaper than objects) and its restocks."""

    __slots__ = ("_encoded", "_keys", "_utc_ms", "_values", "restocks")

    def __init__(
        self, keys: list[bytes], values: list[bytes], utc_ms: list[int], restocks: list[Event]
    ) -> None:
        self._keys: list[bytes] | None = keys
        self._values: list[bytes] | None = values
        self._utc_ms: list[int] | None = utc_ms
        self._encoded: Encoded | None = None
        self.restocks = restocks

    @classmethod
    def encoded(cls, checkouts: Encoded, restocks: list[Event]) -> DayBatch:
        """A batch over an already encoded buffer (valid while that buffer is)."""
        batch = cls.__new__(cls)
        batch._keys = batch._values = batch._utc_ms = None
        batch._encoded = checkouts
        batch.restocks = restocks
        return batch

    # The checkouts, as lists: made from the buffer on first use.

    @property
    def keys(self) -> list[bytes]:
        """Each checkout's key (its store)."""
        if self._keys is None:
            assert self._encoded is not None
            keys = self._encoded.keys
            self._keys = [keys[s] for s in self._encoded.stores.tolist()]
        return self._keys

    @property
    def values(self) -> list[bytes]:
        """Each checkout's JSON body."""
        if self._values is None:
            assert self._encoded is not None
            self._values = self._encoded.values()
        return self._values

    @property
    def utc_ms(self) -> list[int]:
        """Each checkout's UTC instant in milliseconds."""
        if self._utc_ms is None:
            assert self._encoded is not None
            self._utc_ms = self._encoded.utc_ms.tolist()
        return self._utc_ms

    @property
    def transactions(self) -> int:
        """How many checkouts the batch holds."""
        return len(self._encoded) if self._encoded is not None else len(self._values or ())

    def lines(self) -> memoryview | None:
        """Every body followed by a newline, as one buffer, if the batch holds them so."""
        return self._encoded.lines if self._encoded is not None else None

    def _instants(self) -> np.ndarray | list[int]:
        return self._encoded.utc_ms if self._encoded is not None else self.utc_ms

    def _range(self, first: int, last: int, restocks: list[Event]) -> DayBatch:
        if first == 0 and last >= self.transactions and len(restocks) == len(self.restocks):
            return self
        if self._encoded is not None:
            return DayBatch.encoded(self._encoded.slice(first, last), restocks)
        return DayBatch(self.keys[first:last], self.values[first:last], self.utc_ms[first:last], restocks)

    def head(self, count: int) -> DayBatch:
        """The first ``count`` checkouts, with the restocks made before the last of them."""
        if count >= self.transactions:
            return self
        last = int(self._instants()[count - 1]) if count else -1
        return self._range(0, count, [r for r in self.restocks if r.utc_ms <= last])

    def after(self, first_ms: int, until_ms: int | None) -> DayBatch:
        """The events at or after ``first_ms`` and before ``until_ms``."""
        end = until_ms if until_ms is not None else 2**62
        # Checkouts are in time order: the ones kept are one run of them.
        instants = np.asarray(self._instants(), dtype=np.int64)
        first, last = np.searchsorted(instants, [first_ms, end], side="left").tolist()
        return self._range(first, last, [r for r in self.restocks if first_ms <= r.utc_ms < end])

    def skip(self, transactions: int, restocks: int) -> DayBatch:
        """Without the first ``transactions`` checkouts and ``restocks`` restocks (emitted before)."""
        if not transactions and not restocks:
            return self
        return self._range(transactions, self.transactions, self.restocks[restocks:])

    def without(self, ids: set[bytes]) -> tuple[DayBatch, int, int]:
        """Without the events whose ids are in ``ids``; and how many checkouts and restocks that removed."""
        if not ids:
            return self, 0, 0
        values = self.values
        keep = [i for i, value in enumerate(values) if event_id(value) not in ids]
        restocks = [r for r in self.restocks if event_id(r.value) not in ids]
        keys, utc_ms = self.keys, self.utc_ms
        batch = DayBatch(
            [keys[i] for i in keep], [values[i] for i in keep], [utc_ms[i] for i in keep], restocks
        )
        return batch, len(values) - len(keep), len(self.restocks) - len(restocks)

    def split(self, at_ms: int) -> tuple[DayBatch, DayBatch]:
        """The events before ``at_ms``, and the rest."""
        return self.after(0, at_ms), self.after(at_ms, None)

    def last_ms(self) -> int | None:
        """The instant of the latest event, if any."""
        instants = self._instants()
        latest = [int(instants[-1])] if len(instants) else []
        return max(latest + [r.utc_ms for r in self.restocks[-1:]], default=None)

    def events(self) -> list[Event]:
        """Every event as an object, in UTC order (restocks before checkouts at the same instant)."""
        merged = self.restocks + [
            Event(TRANSACTION, k, v, t) for k, v, t in zip(self.keys, self.values, self.utc_ms, strict=True)
        ]
        return sorted(merged, key=lambda e: e.utc_ms)


def joined(pieces: Sequence[DayBatch]) -> DayBatch:
    """Consecutive batches as one (as lists)."""
    if len(pieces) == 1:
        return pieces[0]
    keys: list[bytes] = []
    values: list[bytes] = []
    utc_ms: list[int] = []
    restocks: list[Event] = []
    for piece in pieces:
        keys += piece.keys
        values += piece.values
        utc_ms += piece.utc_ms
        restocks += piece.restocks
    return DayBatch(keys, values, utc_ms, restocks)


_ID = b'_id":"'
_OCCURRED = b'"occurred_at":"'


def event_id(value: bytes) -> bytes:
    """A simulated event's id (``transaction_id`` or ``event_id``: the first id in its body)."""
    at = value.find(_ID) + len(_ID)
    return value[at : at + 36]


def event_identity(value: bytes) -> tuple[date, bytes] | None:
    """The local date and id of any message body that looks like ours, or None."""
    at, occurred = value.find(_ID), value.find(_OCCURRED)
    if at < 0 or occurred < 0:
        return None
    try:
        day = date.fromisoformat(value[occurred + len(_OCCURRED) : occurred + len(_OCCURRED) + 10].decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return day, value[at + len(_ID) : at + len(_ID) + 36]
