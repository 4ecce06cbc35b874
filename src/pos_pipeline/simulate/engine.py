"""The chain, one local day at a time: vectorised per store-day, merged in time order.

Each store-day draws from its own random stream, derived from the run's seed,
the store and the date; nothing else is random. So the stream is the same
whatever the batch sizes or the output, and memory is bounded by one day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pos_pipeline.contract.schema import SCHEMA_VERSION
from pos_pipeline.money import format_millis
from pos_pipeline.reference.catalogue import Store, products, stores
from pos_pipeline.reference.categories import CATEGORIES
from pos_pipeline.reference.customers import customers
from pos_pipeline.reference.tax import AppliedTax, TaxTable, tax_table
from pos_pipeline.simulate import encode
from pos_pipeline.simulate.assortment import Assortment
from pos_pipeline.simulate.payments import CASH, choose_methods
from pos_pipeline.simulate.schedule import SLOT_S, StoreDay, closed_day, store_day
from pos_pipeline.simulate.shoppers import Members
from pos_pipeline.simulate.stock import StoreStock, opening_stocks

REGISTER_AREA_M2 = 500
RATE_SCALE = 1_000_000
DELIVERY_BEFORE_OPENING_S = 3600
CLOSED_DAY_DELIVERY_S = 6 * 3600
TRANSACTION = "transaction"
RESTOCK = "restock"


@dataclass(frozen=True, slots=True)
class Event:
    """One message: its kind, key, JSON body and UTC instant in milliseconds."""

    kind: str
    key: bytes
    value: bytes
    utc_ms: int


@dataclass(slots=True)
class DayBatch:
    """A day's checkouts in UTC order (as parallel lists, cheaper than objects) and its restocks."""

    keys: list[bytes]
    values: list[bytes]
    utc_ms: list[int]
    restocks: list[Event]

    def head(self, count: int) -> DayBatch:
        """The first ``count`` checkouts, with the restocks made before the last of them."""
        if count >= len(self.values):
            return self
        last = self.utc_ms[count - 1] if count else -1
        return DayBatch(
            self.keys[:count],
            self.values[:count],
            self.utc_ms[:count],
            [r for r in self.restocks if r.utc_ms <= last],
        )

    def after(self, first_ms: int, until_ms: int | None) -> DayBatch:
        """The events at or after ``first_ms`` and before ``until_ms``."""
        end = until_ms if until_ms is not None else 2**62
        keep = [i for i, at in enumerate(self.utc_ms) if first_ms <= at < end]
        return DayBatch(
            [self.keys[i] for i in keep],
            [self.values[i] for i in keep],
            [self.utc_ms[i] for i in keep],
            [r for r in self.restocks if first_ms <= r.utc_ms < end],
        )

    def skip(self, transactions: int, restocks: int) -> DayBatch:
        """Without the first ``transactions`` checkouts and ``restocks`` restocks (emitted before)."""
        if not transactions and not restocks:
            return self
        return DayBatch(
            self.keys[transactions:],
            self.values[transactions:],
            self.utc_ms[transactions:],
            self.restocks[restocks:],
        )

    def without(self, ids: set[bytes]) -> tuple[DayBatch, int, int]:
        """Without the events whose ids are in ``ids``; and how many checkouts and restocks that removed."""
        if not ids:
            return self, 0, 0
        keep = [i for i, value in enumerate(self.values) if event_id(value) not in ids]
        restocks = [r for r in self.restocks if event_id(r.value) not in ids]
        batch = DayBatch(
            [self.keys[i] for i in keep],
            [self.values[i] for i in keep],
            [self.utc_ms[i] for i in keep],
            restocks,
        )
        return batch, len(self.values) - len(keep), len(self.restocks) - len(restocks)

    def split(self, at_ms: int) -> tuple[DayBatch, DayBatch]:
        """The events before ``at_ms``, and the rest."""
        return self.after(0, at_ms), self.after(at_ms, None)

    def last_ms(self) -> int | None:
        """The instant of the latest event, if any."""
        return max(self.utc_ms[-1:] + [r.utc_ms for r in self.restocks[-1:]], default=None)

    def events(self) -> list[Event]:
        """Every event as an object, in UTC order (restocks before checkouts at the same instant)."""
        merged = self.restocks + [
            Event(TRANSACTION, k, v, t) for k, v, t in zip(self.keys, self.values, self.utc_ms, strict=True)
        ]
        return sorted(merged, key=lambda e: e.utc_ms)


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


class ChainSimulator:
    """Generates the whole chain's events, day by day."""

    def __init__(self, seed_material: str, scale: float) -> None:
        self.seed = int.from_bytes(hashlib.sha256(seed_material.encode()).digest()[:8], "big")
        self.scale = scale
        self.stores = stores()
        self.products = products()
        self.assortment = Assortment(self.products)
        self.members = Members(customers(), [s.store_id for s in self.stores])
        self.stock: list[StoreStock] = opening_stocks(self.stores, self.products)
        self.taxes: TaxTable = tax_table()
        self.lines = encode.LineEncoder(self.products)
        self.registers = [self.registers_of(s) for s in self.stores]
        #: UTC millisecond intervals [from, until) in which no checkout is rung up (a live run's
        #: start, an outage skipped with --no-catch-up); deliveries and reorders still happen.
        self.quiet: list[tuple[int, int]] = []

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
        """Every store's events on local date ``day``, checkouts merged in UTC order."""
        keys: list[bytes] = []
        values: list[bytes] = []
        times: list[np.ndarray] = []
        restocks: list[Event] = []
        for index, store in enumerate(self.stores):
            rng = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence([self.seed, index, day.toordinal()]))
            )
            sold = self._store_day(rng, index, store, day, restocks)
            if sold is not None:
                count = len(sold[0])
                keys += [store.store_id.encode()] * count
                values += sold[0]
                times.append(sold[1])
        if not values:
            return DayBatch([], [], [], restocks)
        utc = np.concatenate(times)
        order = np.argsort(utc, kind="stable").tolist()
        return DayBatch(
            [keys[i] for i in order],
            [values[i] for i in order],
            utc[order].tolist(),
            sorted(restocks, key=lambda e: e.utc_ms),
        )

    def _store_day(
        self, rng: np.random.Generator, index: int, store: Store, day: date, restocks: list[Event]
    ) -> tuple[list[bytes], np.ndarray] | None:
        stock = self.stock[index]
        trading = store_day(store, day, self.scale)
        received = stock.deliver(day)
        if received is not None:
            restocks.append(self._restock(rng, store, day, trading, received))
        sold = None
        if trading is not None and not self._all_quiet(trading):
            count = int(rng.poisson(trading.expected))
            if count:
                sold = self._checkouts(rng, index, store, trading, count)
        stock.reorder(day)
        return sold

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

    def _restock(
        self,
        rng: np.random.Generator,
        store: Store,
        day: date,
        trading: StoreDay | None,
        received: np.ndarray,
    ) -> Event:
        if trading is None:
            trading = closed_day(store, day, CLOSED_DAY_DELIVERY_S)
            at_s = CLOSED_DAY_DELIVERY_S
        else:
            at_s = trading.opens_s - DELIVERY_BEFORE_OPENING_S
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
