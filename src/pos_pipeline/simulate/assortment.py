"""What shoppers pick: category mix, skewed popularity, weekly promotions, quantities."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pos_pipeline.reference.catalogue import Product
from pos_pipeline.reference.categories import CATEGORIES

# Share of basket lines per category in a Canadian supermarket basket (see docs/simulation.md).
CATEGORY_SHARE = {
    "produce": 0.17,
    "dairy_eggs": 0.13,
    "bakery": 0.08,
    "meat_seafood": 0.10,
    "pantry": 0.20,
    "frozen": 0.07,
    "baby_food": 0.01,
    "snacks": 0.06,
    "candy": 0.03,
    "soft_drinks": 0.04,
    "prepared_food": 0.03,
    "household": 0.04,
    "personal_care": 0.03,
    "pet_supplies": 0.01,
}
# Sharpens the catalogue's popularity weights: a fifth of the SKUs carries over half of the lines.
POPULARITY_EXPONENT = 1.4
PROMOTION_SHARE = 0.05
PICK_RESOLUTION = 1 << 20
PROMOTION_LIFT = 2.5
PROMOTION_PERCENTS = (15, 20, 25, 30)
FLYER_WEEKDAY = 3  # Canadian grocery flyers run Thursday to Wednesday
# Typical kilograms per weighed purchase, by category; lognormal spread around it.
TYPICAL_KG = {"produce": 0.9, "meat_seafood": 0.7, "prepared_food": 0.35}
KG_SIGMA = 0.5
UNIT_QUANTITIES = np.array([1, 2, 3, 4, 6])
UNIT_QUANTITY_CUMULATIVE = np.cumsum([0.80, 0.14, 0.03, 0.02, 0.01])


@dataclass(frozen=True, slots=True)
class Flyer:
    """A flyer week's promotions: discount percent per SKU index (0 = not on promotion)."""

    starts: date
    percent: np.ndarray
    cumulative: np.ndarray  # cumulative pick probabilities with the promotion lift
    #: SKU index per 1/PICK_RESOLUTION of [0, 1): a fast inverse of ``cumulative`` (int16, a
    #: quarter of int64's memory to fill before the first receipt).
    lookup: np.ndarray


def pick_lookup(cumulative: np.ndarray) -> np.ndarray:
    """``searchsorted(cumulative, k / PICK_RESOLUTION, "right")`` for every k, without the search.

    The resolution is a power of two, so k / R and c * R are exact: the index is j exactly for
    the k from ceil(cumulative[j-1] * R) up to ceil(cumulative[j] * R), a run repeated in one go
    (ten times faster; a flyer is built before a run's first receipt).
    """
    bounds = np.ceil(cumulative * PICK_RESOLUTION).clip(0, PICK_RESOLUTION).astype(np.int64)
    runs = np.diff(bounds, prepend=0)
    dtype = np.int16 if len(cumulative) < np.iinfo(np.int16).max else np.int64
    lookup = np.repeat(np.arange(len(cumulative), dtype=dtype), runs)
    if len(lookup) == PICK_RESOLUTION:
        return lookup
    # Edges past the last bound (none when cumulative ends at 1.0) get the index past the end.
    return np.concatenate([lookup, np.full(PICK_RESOLUTION - len(lookup), len(cumulative), dtype=dtype)])


class Assortment:
    """The catalogue as arrays, ready for vectorised sampling."""

    def __init__(self, products: tuple[Product, ...]) -> None:
        self.products = products
        self.count = len(products)
        self.category_index = np.array([CATEGORIES.index(p.category) for p in products], dtype=np.int8)
        self.price_cents = np.array([p.price_cents for p in products], dtype=np.int64)
        self.weighed = np.array([p.unit == "kg" for p in products])
        self.typical_kg = np.array([TYPICAL_KG.get(p.category, 0.5) for p in products])
        popularity = np.array([p.popularity for p in products], dtype=np.float64) ** POPULARITY_EXPONENT
        base = np.zeros(self.count)
        for name, share in CATEGORY_SHARE.items():
            members = self.category_index == CATEGORIES.index(name)
            if members.any():
                base[members] = share * popularity[members] / popularity[members].sum()
        self.base_weight = base / base.sum()
        self._flyers: dict[date, Flyer] = {}

    def flyer(self, day: date) -> Flyer:
        """The promotions in force on ``day`` (the chain's flyer: the same whatever the seed)."""
        starts = day - timedelta(days=(day.weekday() - FLYER_WEEKDAY) % 7)
        flyer = self._flyers.get(starts)
        if flyer is None:
            picker = random.Random(starts.toordinal())
            chosen = picker.sample(range(self.count), max(1, round(self.count * PROMOTION_SHARE)))
            percent = np.zeros(self.count, dtype=np.int64)
            for index in chosen:
                percent[index] = picker.choice(PROMOTION_PERCENTS)
            weight = self.base_weight * np.where(percent > 0, PROMOTION_LIFT, 1.0)
            cumulative = np.cumsum(weight / weight.sum())
            cumulative[-1] = 1.0
            lookup = pick_lookup(cumulative)
            flyer = Flyer(starts, percent, cumulative, lookup)
            self._flyers = {starts: flyer}  # one flyer at a time keeps memory flat
        return flyer

    def pick(self, rng: np.random.Generator, flyer: Flyer, count: int) -> np.ndarray:
        """``count`` SKU indices drawn by lifted popularity."""
        # A table lookup instead of a binary search: each SKU's probability is kept to within
        # 1/PICK_RESOLUTION (one in a million), far below any sampling noise.
        buckets: np.ndarray = (rng.random(count) * PICK_RESOLUTION).astype(np.int64)
        picked: np.ndarray = flyer.lookup[buckets].astype(np.int64)
        return picked

    def quantities(self, rng: np.random.Generator, skus: np.ndarray) -> np.ndarray:
        """Quantities in thousandths: whole units, or grams for goods sold by the kilogram."""
        units = (
            UNIT_QUANTITIES[
                np.searchsorted(UNIT_QUANTITY_CUMULATIVE, rng.random(len(skus)), side="right").clip(
                    0, len(UNIT_QUANTITIES) - 1
                )
            ]
            * 1000
        )
        kilos = self.typical_kg[skus] * np.exp(rng.normal(0.0, KG_SIGMA, len(skus)) - KG_SIGMA**2 / 2)
        grams = np.clip(np.rint(kilos * 1000), 50, 5000).astype(np.int64)
        chosen: np.ndarray = np.where(self.weighed[skus], grams, units)
        return chosen
