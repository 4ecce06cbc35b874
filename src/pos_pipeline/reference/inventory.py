"""Opening stock for every (store, SKU): a deterministic function of size and popularity."""

from __future__ import annotations

from dataclasses import dataclass

from pos_pipeline.reference.catalogue import Product, Store

TYPICAL_FLOOR_AREA_M2 = 4000


@dataclass(frozen=True, slots=True)
class OpeningStock:
    """Units (or kilograms) on hand at opening, in thousandths, and the reorder point."""

    on_hand_millis: int
    reorder_point_millis: int


def opening_stock(store: Store, product: Product) -> OpeningStock:
    """Opening stock: bigger stores and more popular items carry more."""
    units = max(24, round(product.popularity * 12 * store.floor_area_m2 / TYPICAL_FLOOR_AREA_M2))
    return OpeningStock(on_hand_millis=units * 1000, reorder_point_millis=(units // 4) * 1000)
