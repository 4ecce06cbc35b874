"""The chain, one local day at a time: vectorised per store-day, merged in time order.

Each store-day draws from its own random stream, derived from the run's seed,
the store and the date; nothing else is random. So the stream is the same
whatever the batch sizes or the output, and memory is bounded by one day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pos_pipeline.contract.schema import SCHEMA_VERSION
from pos_pipeline.money import format_millis
from pos_pipeline.reference.catalogue import Store, products, stores
from pos_pipeline.reference.categories import CATEGORIES
from pos_pipeline.reference.customers import customer_ids, home_store_indices
from pos_pipeline.reference.tax import AppliedTax, TaxTable, tax_table
from pos_pipeline.simulate import encode
from pos_pipeline.simulate.assortment import Assortment
from pos_pipeline.simulate.batch import (
    RESTOCK,
    TRANSACTION,
    DayBatch,
    Event,
    event_id,
    event_identity,
    joined,
)
from pos_pipeline.simulate.payments import CASH, choose_methods
from pos_pipeline.simulate.schedule import SLOT_S, StoreDay, closed_day, store_day
from pos_pipeline.simulate.shoppers import Members
from pos_pipeline.simulate.stock import StoreStock, opening_stocks

__all__ = [
    "RESTOCK",
    "TRANSACTION",
    "ChainSimulator",
    "DayBatch",
    "Event",
    "basket_sizes",
    "event_id",
    "event_identity",
]

REGISTER_AREA_M2 = 500
RATE_SCALE = 1_000_000
DELIVERY_BEFORE_OPENING_S = 3600
CLOSED_DAY_DELIVERY_S = 6 * 3600


def basket_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Lines per basket: quick single-item runs, regular shops, and a tail of big weekly shops."""
    kind = rng.random(count)
    regular = 2 + rng.poisson(5.0, count)
    weekly = 14 + rng.geometric(1 / 9, count)
    return np.where(kind < 0.12, 1, np.where(kind < 0.80, regular, weekly)).clip(1, 60)


def _uuids(rng: np.random.Generator, count: int) -> np.ndarray:
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return encode.uuid_texts(raw)


@dataclass(slots=True)
class _StoreDayEvents:
    """One store-day's checkouts (bodies and UTC instants, in time order) and its restock."""

    key: bytes
    values: list[bytes]
    utc_ms: np.ndarray
    restock: Event | None
    #: How many checkouts (and whether the restock) went into a piece already.
    taken: int = 0
    restock_taken: bool = False


NO_EVENT_MS = 2**62


class ChainSimulator:
    """Generates the chain's events (all its stores', or some of them), day by day."""

    def __init__(self, seed_material: str, scale: float, store_indices: Sequence[int] | None = None) -> None:
        self.seed_material = seed_material
        self.seed = int.from_bytes(hashlib.sha256(seed_material.encode()).digest()[:8], "big")
        self.scale = scale
        self.stores = stores()
        #: The stores this simulator generates (indices into ``stores``, ascending): a shard's or a
        #: worker's. Each store-day depends only on the seed and that store's earlier days.
        self.active = (
            tuple(sorted(store_indices)) if store_indices is not None else tuple(range(len(self.stores)))
        )
        self.products = products()
        self.assortment = Assortment(self.products)
        self.members = Members(customer_ids(), home_store_indices(), len(self.stores))
        self.stock: list[StoreStock] = opening_stocks(self.stores, self.products)
        self.taxes: TaxTable = tax_table()
        self._lines: encode.LineEncoder | None = None
        self.registers = [self.registers_of(s) for s in self.stores]
        self.keys = tuple(s.store_id.encode() for s in self.stores)
        #: UTC millisecond intervals [from, until) in which no checkout is rung up (a live run's
        #: start, an outage skipped with --no-catch-up); deliveries and reorders still happen.
        self.quiet: list[tuple[int, int]] = []

    @property
    def lines(self) -> encode.LineEncoder:
        """The line encoder, made (with the encoder's tables) when the first basket is encoded:
        a pool's parent, whose workers encode, never needs it."""
        if self._lines is None:
            self._lines = encode.LineEncoder(self.products)
        return self._lines

    @staticmethod
    def registers_of(store: Store) -> int:
        """How many checkout registers a store has: one per 500 m², at least two."""
        return max(2, store.floor_area_m2 // REGISTER_AREA_M2)

    def days(self, first: date) -> Iterator[DayBatch]:
        """Each local day's events from ``first`` on, in UTC order."""
        day = first
        while True:
            yield self.day(day)
            day += timedelta(days=1)

    def day(self, day: date) -> DayBatch:
        """Every active store's events on local date ``day``, checkouts merged in UTC order."""
        return joined(list(self.pieces(day)) or [DayBatch([], [], [], [])])

    def pieces(self, day: date) -> Iterator[DayBatch]:
        """The events of ``day`` in consecutive time slices, each as soon as it is final.

        Store-days are generated in the order of their first possible event (a delivery, or
        opening time); a slice is final when no store still to generate can have an event in it.
        So the east's early morning comes out after a few store-days, not after the whole day.
        Joined, the slices are :meth:`day`. A day abandoned part-way leaves some stores' stock
        advanced and others not: start the next run from saved stock.
        """
        trading = {i: store_day(self.stores[i], day, self.scale) for i in self.active}
        earliest = {i: self._earliest_ms(i, day, trading[i]) for i in self.active}
        order = sorted(self.active, key=lambda i: (earliest[i], i))
        made: dict[int, _StoreDayEvents] = {}
        final_before = -1
        for position, index in enumerate(order):
            made[index] = self._store_day(index, day, trading[index])
            later = earliest[order[position + 1]] if position + 1 < len(order) else NO_EVENT_MS + 1
            if later > final_before:
                final_before = later
                piece = self._piece([made[i] for i in self.active if i in made], final_before)
                if piece.transactions or piece.restocks:
                    yield piece

    def store_days(self, day: date) -> list[tuple[int, list[bytes], np.ndarray, Event | None]]:
        """Each active store's events on ``day``, unmerged: (store index, checkout bodies and UTC
        instants in the store's own order, restock), in store order.

        For whoever merges them itself (the worker pool's parent, by instant and then store):
        cheaper than :meth:`pieces`, which merges every slice as it goes.
        """
        made = []
        for index in self.active:
            events = self._store_day(index, day, store_day(self.stores[index], day, self.scale))
            made.append((index, events.values, events.utc_ms, events.restock))
        return made

    def _earliest_ms(self, index: int, day: date, trading: StoreDay | None) -> int:
        """No event of this store-day is earlier than this (UTC ms): its delivery, or its opening."""
        if any(d.due <= day for d in self.stock[index].pending):
            at, at_s = self._delivery_day(self.stores[index], day, trading)
            return int(at.utc_ms(np.array([at_s * 1000]))[0])
        if trading is not None:
            return int(trading.utc_ms(np.array([trading.opens_s * 1000]))[0])
        return NO_EVENT_MS

    @staticmethod
    def _piece(made: list[_StoreDayEvents], before_ms: int) -> DayBatch:
        """The events before ``before_ms`` not taken yet (``made`` in store order, for the ties)."""
        keys: list[bytes] = []
        values: list[bytes] = []
        times: list[np.ndarray] = []
        restocks: list[Event] = []
        for events in made:
            if events.restock is not None and not events.restock_taken and events.restock.utc_ms < before_ms:
                restocks.append(events.restock)
                events.restock_taken = True
            stop = int(np.searchsorted(events.utc_ms, before_ms, side="left"))
            if stop > events.taken:
                keys += [events.key] * (stop - events.taken)
                values += events.values[events.taken : stop]
                times.append(events.utc_ms[events.taken : stop])
                events.taken = stop
        restocks.sort(key=lambda e: e.utc_ms)
        if not values:
            return DayBatch([], [], [], restocks)
        utc = np.concatenate(times)
        order = np.argsort(utc, kind="stable").tolist()
        return DayBatch([keys[i] for i in order], [values[i] for i in order], utc[order].tolist(), restocks)

    def _store_day(self, index: int, day: date, trading: StoreDay | None) -> _StoreDayEvents:
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, index, day.toordinal()]))
        )
        store, stock = self.stores[index], self.stock[index]
        received = stock.deliver(day)
        restock = self._restock(rng, store, day, trading, received) if received is not None else None
        sold = None
        if trading is not None and not self._all_quiet(trading):
            count = int(rng.poisson(trading.expected))
            if count:
                sold = self._checkouts(rng, index, store, trading, count)
        stock.reorder(day)
        values, utc = sold if sold is not None else ([], np.zeros(0, dtype=np.int64))
        return _StoreDayEvents(self.keys[index], values, utc, restock)

    def _all_quiet(self, trading: StoreDay) -> bool:
        """Whether the whole trading day falls in a quiet interval (then nothing needs drawing)."""
        opens, closes = trading.utc_ms(np.array([trading.opens_s * 1000, trading.closes_s * 1000])).tolist()
        return any(start <= opens and closes <= until for start, until in self.quiet)

    def _rung_up(self, basket_utc: np.ndarray) -> np.ndarray:
        """A mask of the baskets outside every quiet interval."""
        rung = np.ones(len(basket_utc), dtype=bool)
        for start, until in self.quiet:
            rung &= (basket_utc < start) | (basket_utc >= until)
        return rung

    @staticmethod
    def _delivery_day(store: Store, day: date, trading: StoreDay | None) -> tuple[StoreDay, int]:
        """The day a delivery is stamped with, and its local second: before opening, or at six."""
        if trading is None:
            return closed_day(store, day, CLOSED_DAY_DELIVERY_S), CLOSED_DAY_DELIVERY_S
        return trading, trading.opens_s - DELIVERY_BEFORE_OPENING_S

    def _restock(
        self,
        rng: np.random.Generator,
        store: Store,
        day: date,
        trading: StoreDay | None,
        received: np.ndarray,
    ) -> Event:
        trading, at_s = self._delivery_day(store, day, trading)
        lines = ",".join(
            f'{{"sku":"{self.products[i].sku}","quantity":"'
            f'{format_millis(int(q)) if self.assortment.weighed[i] else int(q) // 1000}"}}'
            for i, q in zip(np.flatnonzero(received).tolist(), received[received > 0].tolist(), strict=True)
        )
        event_id = str(_uuids(rng, 1)[0])
        body = (
            f'{{"schema_version":{SCHEMA_VERSION},"event_id":"{event_id}","event_type":"restock",'
            f'"occurred_at":"{day.isoformat()}T{encode.clock(at_s * 1000)}{trading.offset_text}",'
            f'"store_id":"{store.store_id}","province":"{store.province}","lines":[{lines}]}}'
        )
        utc = int(trading.utc_ms(np.array([at_s * 1000]))[0])
        return Event(RESTOCK, store.store_id.encode(), body.encode(), utc)

    def _checkouts(
        self, rng: np.random.Generator, index: int, store: Store, trading: StoreDay, count: int
    ) -> tuple[list[bytes], np.ndarray] | None:
        # Draw every random input in a fixed order first.
        cumulative = np.cumsum(trading.slot_weights())
        slots = np.searchsorted(cumulative, rng.random(count), side="right").clip(0, 47)
        local_ms = np.sort(slots * SLOT_S * 1000 + rng.integers(0, SLOT_S * 1000, count))
        local_ms = local_ms.clip(trading.opens_s * 1000, trading.closes_s * 1000 - 1)
        shopper = self.members.draw(rng, index, count)
        sizes = basket_sizes(rng, count)
        identified = shopper >= 0
        sizes[identified] = np.rint(sizes[identified] * self.members.habit[shopper[identified]]).clip(1, 60)
        flyer = self.assortment.flyer(trading.day)
        skus = self.assortment.pick(rng, flyer, int(sizes.sum()))
        quantity = self.assortment.quantities(rng, skus)
        registers = rng.integers(1, self.registers[index] + 1, count)
        ids = _uuids(rng, count)
        pay_draw = rng.random(count)

        # Sell what the shelves hold; a basket left empty is not rung up. Stock is taken in time
        # order, so a quiet interval changes nothing before it: a resumed day replays exactly.
        owner = np.repeat(np.arange(count), sizes)
        if self.quiet:
            lines = self._rung_up(trading.utc_ms(local_ms))[owner]
            sold = np.zeros(len(skus), dtype=bool)
            sold[lines] = self.stock[index].take(skus[lines], quantity[lines])
        else:
            sold = self.stock[index].take(skus, quantity)
        skus, quantity, owner = skus[sold], quantity[sold], owner[sold]
        per_basket = np.bincount(owner, minlength=count)
        kept = np.flatnonzero(per_basket)
        if len(kept) == 0:
            return None
        starts = np.r_[0, np.cumsum(per_basket[kept])[:-1]]

        gross = (quantity * self.assortment.price_cents[skus] + 500) // 1000
        discount = (gross * flyer.percent[skus] + 50) // 100
        line_total = gross - discount
        subtotal = np.add.reduceat(line_total, starts)
        category = self.assortment.category_index[skus]
        taxes = self.taxes.taxes_on(store.province, trading.day)
        tax_mask = np.zeros(len(skus), dtype=np.int64)
        amounts, taxables, carried = [], [], []
        for bit, tax in enumerate(taxes):
            applies = np.array([c in tax.categories for c in CATEGORIES])[category]
            tax_mask |= applies.astype(np.int64) << bit
            taxable = np.add.reduceat(np.where(applies, line_total, 0), starts)
            rate = int(tax.rate * RATE_SCALE)
            taxables.append(taxable)
            amounts.append((taxable * rate + RATE_SCALE // 2) // RATE_SCALE)
            carried.append(np.add.reduceat(applies.astype(np.int64), starts) > 0)
        tax_total = np.sum(amounts, axis=0) if amounts else np.zeros(len(kept), dtype=np.int64)
        exact = subtotal + tax_total
        method = choose_methods(pay_draw[kept], exact)
        remainder = exact % 5
        total = np.where(method == CASH, exact - remainder + np.where(remainder > 2, 5, 0), exact)

        return self._encode(
            store,
            trading,
            kept,
            starts,
            local_ms,
            shopper,
            registers,
            ids,
            method,
            skus,
            quantity,
            discount,
            line_total,
            tax_mask,
            subtotal,
            taxes,
            taxables,
            amounts,
            carried,
            tax_total,
            exact,
            total,
        )

    def _encode(
        self,
        store: Store,
        trading: StoreDay,
        kept: np.ndarray,
        starts: np.ndarray,
        local_ms: np.ndarray,
        shopper: np.ndarray,
        registers: np.ndarray,
        ids: np.ndarray,
        method: np.ndarray,
        skus: np.ndarray,
        quantity: np.ndarray,
        discount: np.ndarray,
        line_total: np.ndarray,
        tax_mask: np.ndarray,
        subtotal: np.ndarray,
        taxes: tuple[AppliedTax, ...],
        taxables: list[np.ndarray],
        amounts: list[np.ndarray],
        carried: list[np.ndarray],
        tax_total: np.ndarray,
        exact: np.ndarray,
        total: np.ndarray,
    ) -> tuple[list[bytes], np.ndarray]:
        codes_json = [
            encode.tax_codes_json(tuple(t.code for b, t in enumerate(taxes) if m >> b & 1))
            for m in range(1 << len(taxes))
        ]
        per_basket = np.diff(np.r_[starts, len(skus)])
        line_no = np.arange(len(skus)) - np.repeat(starts, per_basket) + 1
        last_line = np.zeros(len(skus), dtype=bool)
        last_line[np.r_[starts[1:], len(skus)] - 1] = True
        fragments = self.lines.fragments(
            skus, quantity, self.assortment.weighed[skus], discount, line_total, tax_mask, codes_json
        )
        tax_parts = np.full(len(kept), "", dtype=object)
        for bit, tax in enumerate(taxes):
            entry = (
                f'{{"code":"{tax.code}","rate":"{tax.rate}","taxable_amount":"'
                + encode.money_many(taxables[bit])
                + '","amount":"'
                + encode.money_many(amounts[bit])
                + '"}'
            )
            entry = np.where(carried[bit], entry, "")
            joiner = np.where((tax_parts != "") & carried[bit], ",", "")
            tax_parts = tax_parts + joiner + entry
        member = shopper[kept]
        customer = np.full(len(kept), "null", dtype=object)
        named = np.flatnonzero(member >= 0)
        customer[named] = ['"' + self.members.ids[m] + '"' for m in member[named].tolist()]

        registers_text = np.array(
            [
                f'{trading.offset_text}","store_id":"{store.store_id}","province":"{store.province}",'
                f'"register_id":{r},"customer_id":'
                for r in range(self.registers_of(store) + 1)
            ],
            dtype=object,
        )
        # Every receipt is a run of slots in one flat array, joined once: no per-receipt concatenation.
        opening = (
            f'{{"schema_version":{SCHEMA_VERSION},"transaction_id":"',
            ids[kept],
            f'","occurred_at":"{trading.day.isoformat()}T',
            encode.clock_many(local_ms[kept]),
            registers_text[registers[kept]],
            customer,
            encode.payment_texts(method),
        )
        closing = (*encode.receipt_closings(subtotal, tax_parts, tax_total, total - exact, total), "\n")
        width = len(opening) + len(closing)
        base = np.r_[0, np.cumsum(width + 3 * per_basket)[:-1]]
        flat = np.empty(int(base[-1]) + width + 3 * int(per_basket[-1]), dtype=object)
        for offset, piece in enumerate(opening):
            flat[base + offset] = piece
        line_at = np.repeat(base + len(opening), per_basket) + 3 * (line_no - 1)
        flat[line_at] = encode.line_numbers(line_no)
        flat[line_at + 1] = fragments
        flat[line_at + 2] = np.where(last_line, "", ",")
        close_at = base + len(opening) + 3 * per_basket
        for offset, piece in enumerate(closing):
            flat[close_at + offset] = piece
        bodies = "".join(flat.tolist()).encode().split(b"\n")
        bodies.pop()  # after the last newline
        return bodies, trading.utc_ms(local_ms[kept])
