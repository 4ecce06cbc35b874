"""Each store's stock: sales never exceed what is on hand; low stock is reordered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from pos_pipeline.reference.catalogue import Product, Store
from pos_pipeline.reference.inventory import TYPICAL_FLOOR_AREA_M2

LEAD_DAYS = 1
REMOTE_LEAD_DAYS = 3  # the territories' stores are supplied by road or air from the south
REMOTE_PROVINCES = ("NT", "NU", "YT")


@dataclass(slots=True)
class Delivery:
    """A restock on its way: due date and thousandths per SKU index."""

    due: date
    quantity: np.ndarray


@dataclass(slots=True)
class StoreStock:
    """One store's stock in thousandths of a unit or kilogram, per SKU index."""

    on_hand: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    lead_days: int
    pending: list[Delivery] = field(default_factory=list)
    on_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def deliver(self, day: date) -> np.ndarray | None:
        """Receive every delivery due by ``day``; the quantities received, or None."""
        due = [d for d in self.pending if d.due <= day]
        if not due:
            return None
        self.pending = [d for d in self.pending if d.due > day]
        received: np.ndarray = np.sum([d.quantity for d in due], axis=0)
        self.on_hand += received
        self.on_order &= received == 0
        return received

    def take(self, skus: np.ndarray, quantities: np.ndarray) -> np.ndarray:
        """Sell lines in time order while stock lasts; a mask of the lines that sold."""
        if len(skus) == 0:
            return np.zeros(0, dtype=bool)
        demand = np.bincount(skus, weights=quantities, minlength=len(self.on_hand))
        if (demand <= self.on_hand).all():  # the usual day: nothing runs out
            self.on_hand -= demand.astype(np.int64)
            return np.ones(len(skus), dtype=bool)
        # Only the SKUs that run out need lines taken one by one, in time order.
        short_lines = np.flatnonzero((demand > self.on_hand)[skus])
        short_skus, short_qty = skus[short_lines], quantities[short_lines]
        order = np.argsort(short_skus, kind="stable")
        sorted_skus, sorted_qty = short_skus[order], short_qty[order]
        running = np.cumsum(sorted_qty)
        starts = np.flatnonzero(np.r_[True, sorted_skus[1:] != sorted_skus[:-1]])
        sizes = np.diff(np.r_[starts, len(sorted_skus)])
        within = running - np.repeat(running[starts] - sorted_qty[starts], sizes)
        allowed = np.ones(len(skus), dtype=bool)
        allowed[short_lines[order]] = within <= self.on_hand[sorted_skus]
        sold = np.bincount(skus[allowed], weights=quantities[allowed], minlength=len(self.on_hand))
        self.on_hand -= sold.astype(np.int64)
        return allowed

    def reorder(self, day: date) -> None:
        """At closing, order every SKU below its reorder point back up to its level."""
        low = (self.on_hand < self.reorder_point) & ~self.on_order
        if low.any():
            quantity = np.where(low, self.order_up_to - self.on_hand, 0)
            self.pending.append(Delivery(day + timedelta(days=self.lead_days), quantity))
            self.on_order |= low

    def saved(self) -> dict[str, Any]:
        """What changes as the store trades, as JSON-ready data (the rest is reference data)."""
        return {
            "on_hand": self.on_hand.tolist(),
            "on_order": np.flatnonzero(self.on_order).tolist(),
            "pending": [
                {
                    "due": d.due.isoformat(),
                    "sku_index": np.flatnonzero(d.quantity).tolist(),
                    "quantity": d.quantity[d.quantity != 0].tolist(),
                }
                for d in self.pending
            ],
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Put back what ``saved`` returned; ValueError if it does not fit this catalogue."""
        on_hand = np.array(saved["on_hand"], dtype=np.int64)
        if on_hand.shape != self.on_hand.shape:
            raise ValueError(f"{len(on_hand)} SKUs of stock, the catalogue has {len(self.on_hand)}")
        on_order = np.zeros(len(on_hand), dtype=bool)
        on_order[np.array(saved["on_order"], dtype=np.int64)] = True
        pending = []
        for delivery in saved["pending"]:
            quantity = np.zeros(len(on_hand), dtype=np.int64)
            quantity[np.array(delivery["sku_index"], dtype=np.int64)] = delivery["quantity"]
            pending.append(Delivery(date.fromisoformat(delivery["due"]), quantity))
        self.on_hand, self.on_order, self.pending = on_hand, on_order, pending


def opening_stocks(stores: tuple[Store, ...], products: tuple[Product, ...]) -> list[StoreStock]:
    """Every store's stock as the warehouse opens it (``reference.inventory.opening_stock``'s levels).

    Computed for all SKUs of a store at once (a test holds it to ``opening_stock``, which
    `pos db init` uses): one call per (store, SKU) costs more than the run's first receipts.
    """
    popularity = np.array([p.popularity for p in products], dtype=np.float64)
    result = []
    for store in stores:
        # The same arithmetic as opening_stock: exact integers divided once, rounded half to even.
        units = np.maximum(24, np.rint(popularity * 12 * store.floor_area_m2 / TYPICAL_FLOOR_AREA_M2))
        on_hand = units.astype(np.int64) * 1000
        result.append(
            StoreStock(
                on_hand=on_hand.copy(),
                reorder_point=units.astype(np.int64) // 4 * 1000,
                order_up_to=on_hand,
                lead_days=REMOTE_LEAD_DAYS if store.province in REMOTE_PROVINCES else LEAD_DAYS,
                on_order=np.zeros(len(products), dtype=bool),
            )
        )
    return result
