"""The transaction stream: arrivals, baskets, shoppers and payments, encoded as contract v1."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from pos_pipeline.contract.receipt import build_receipt
from pos_pipeline.contract.schema import SCHEMA_VERSION
from pos_pipeline.reference.catalogue import PAYMENT_METHODS, Store, products, stores
from pos_pipeline.reference.customers import customers
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.basket import BasketModel
from pos_pipeline.simulate.traffic import TrafficModel, local_midnight, to_local

PAYMENT_WEIGHTS = (19, 33, 38, 6, 4)  # cash, debit, credit, mobile wallet, gift card
IDENTIFIED_SHARE = 0.45
HOME_STORE_SHARE = 0.85
REGISTER_AREA_M2 = 500


@dataclass(frozen=True, slots=True)
class Event:
    """One encoded message: its key, its JSON body and its instant (UTC epoch seconds)."""

    key: bytes
    value: bytes
    timestamp: float


@dataclass(frozen=True, slots=True)
class Window:
    """The simulated period: from ``start`` (a local date) for ``days`` days, or open-ended."""

    start: float
    first_day: date | None = None
    last_day: date | None = None
    until: float | None = None


def backfill_window(first_day: date, days: int | None) -> Window:
    """A window of whole local days in every store's own time zone."""
    chain = stores()
    start = min(local_midnight(first_day, s.zone) for s in chain)
    if days is None:
        return Window(start=start, first_day=first_day)
    end_day = date.fromordinal(first_day.toordinal() + days)
    until = max(local_midnight(end_day, s.zone) for s in chain)
    return Window(
        start=start,
        first_day=first_day,
        last_day=date.fromordinal(end_day.toordinal() - 1),
        until=until,
    )


class TransactionGenerator:
    """A seeded, reproducible stream of checkouts."""

    def __init__(self, seed: int | str, scale: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.traffic = TrafficModel(stores(), scale, self.rng)
        self.baskets = BasketModel(products(), self.rng)
        self.taxes = tax_table()
        self.members_by_store: dict[str, list[str]] = defaultdict(list)
        all_members = [c.customer_id for c in customers()]
        for member in customers():
            self.members_by_store[member.home_store_id].append(member.customer_id)
        self.all_members = all_members

    def events(self, window: Window) -> Iterator[Event]:
        """Encoded checkouts in time order within ``window`` (endless when it has no end)."""
        t = window.start
        while True:
            arrival = self.traffic.next_arrival(t, window.until)
            if arrival is None:
                return
            t = arrival.timestamp
            local = to_local(t, arrival.store)
            day = local.date()
            if window.first_day is not None and day < window.first_day:
                continue
            if window.last_day is not None and day > window.last_day:
                continue
            yield Event(
                arrival.store.store_id.encode(),
                orjson.dumps(self.transaction(arrival.store, local)),
                t,
            )

    def transaction(self, store: Store, local: datetime) -> dict[str, Any]:
        """One checkout at ``store`` at local time ``local``, as a contract-v1 object."""
        rng = self.rng
        header = {
            "schema_version": SCHEMA_VERSION,
            "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": local.isoformat(timespec="milliseconds"),
            "store_id": store.store_id,
            "province": store.province,
            "register_id": rng.randint(1, max(2, store.floor_area_m2 // REGISTER_AREA_M2)),
            "customer_id": self._shopper(store),
        }
        lines = self.baskets.lines(local.date())
        payment = rng.choices(PAYMENT_METHODS, weights=PAYMENT_WEIGHTS)[0]
        return build_receipt(header, lines, self.taxes.taxes_on(store.province, local.date()), payment)

    def _shopper(self, store: Store) -> str | None:
        if self.rng.random() >= IDENTIFIED_SHARE:
            return None
        home = self.members_by_store.get(store.store_id)
        if home and self.rng.random() < HOME_STORE_SHARE:
            return self.rng.choice(home)
        return self.rng.choice(self.all_members)
