"""When checkouts happen: per-store Poisson arrivals while each store is open.

The chain is the superposition of one Poisson process per store, each active
only during its local opening hours. It is sampled by thinning: arrivals are
drawn at the chain's peak rate and kept when the chosen store is open.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from pos_pipeline.reference.catalogue import Store, stores
from pos_pipeline.reference.inventory import TYPICAL_FLOOR_AREA_M2

# A typical Canadian supermarket rings up about 2,000 checkouts a day.
TYPICAL_DAILY_TRANSACTIONS = 2000


@dataclass(frozen=True, slots=True)
class Arrival:
    """One checkout: when (UTC seconds since the epoch) and at which store."""

    timestamp: float
    store: Store


def daily_transactions(store: Store, scale: float) -> float:
    """Expected checkouts a day at ``store``: proportional to its floor area."""
    return TYPICAL_DAILY_TRANSACTIONS * scale * store.floor_area_m2 / TYPICAL_FLOOR_AREA_M2


def chain_daily_transactions(scale: float) -> float:
    """Expected checkouts a day across the whole chain."""
    return math.fsum(daily_transactions(s, scale) for s in stores())


def _open_seconds(store: Store) -> float:
    opens = store.opens.hour * 3600 + store.opens.minute * 60
    closes = store.closes.hour * 3600 + store.closes.minute * 60
    return float(max(closes - opens, 3600))


def local_midnight(day: date, zone: ZoneInfo) -> float:
    """UTC epoch seconds of 00:00 on ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def is_open(store: Store, local: datetime) -> bool:
    """Whether ``store`` sells at local wall-clock time ``local``."""
    return store.opens <= local.time() < store.closes


class TrafficModel:
    """Draws the chain's next checkout after a given instant."""

    def __init__(self, stores: tuple[Store, ...], scale: float, rng: random.Random) -> None:
        self.stores = stores
        self.zones = {s.store_id: s.zone for s in stores}
        self.rates = [daily_transactions(s, scale) / _open_seconds(s) for s in stores]
        self.peak_rate = math.fsum(self.rates)
        self.rng = rng

    def next_arrival(self, after: float, until: float | None = None) -> Arrival | None:
        """The first arrival after ``after`` (None if none before ``until``)."""
        t = after
        while True:
            t += self.rng.expovariate(self.peak_rate)
            if until is not None and t >= until:
                return None
            store = self.rng.choices(self.stores, weights=self.rates)[0]
            local = datetime.fromtimestamp(t, tz=self.zones[store.store_id])
            if is_open(store, local):
                return Arrival(t, store)


def to_local(timestamp: float, store: Store) -> datetime:
    """The store's local wall-clock time (with its UTC offset) of a UTC instant."""
    return datetime.fromtimestamp(timestamp, tz=store.zone)


def utc_now() -> float:
    """The wall clock, in UTC epoch seconds."""
    return datetime.now(tz=UTC).timestamp()
