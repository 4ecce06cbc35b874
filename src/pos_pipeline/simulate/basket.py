"""What goes into a basket: how many lines, which products, how much of each, and promotions."""

from __future__ import annotations

import random
from datetime import date

from pos_pipeline.contract.receipt import Line
from pos_pipeline.money import div_round_half_up
from pos_pipeline.reference.catalogue import Product

PROMOTION_SHARE = 0.05  # of the catalogue on promotion in any one week
PROMOTION_DISCOUNT_PERCENT = 20


class BasketModel:
    """Draws basket lines: popularity-weighted products, unit or weighed quantities."""

    def __init__(self, products: tuple[Product, ...], rng: random.Random) -> None:
        self.products = products
        self.weights = [p.popularity for p in products]
        self.rng = rng
        self._promotions: dict[int, frozenset[str]] = {}

    def line_count(self) -> int:
        """Lines in a basket: many quick trips, a body of regular shops, a tail of big ones."""
        kind = self.rng.random()
        if kind < 0.30:
            return self.rng.randint(1, 3)
        if kind < 0.85:
            return self.rng.randint(4, 15)
        return self.rng.randint(16, 60)

    def promoted(self, day: date) -> frozenset[str]:
        """SKUs on promotion in the ISO week of ``day``: a rotating slice of the catalogue."""
        year, week, _ = day.isocalendar()
        key = year * 100 + week
        if key not in self._promotions:
            picker = random.Random(key)  # the same flyer whatever the simulation seed
            count = max(1, int(len(self.products) * PROMOTION_SHARE))
            self._promotions[key] = frozenset(p.sku for p in picker.sample(self.products, count))
        return self._promotions[key]

    def lines(self, day: date) -> list[Line]:
        """A basket's lines for a checkout on local date ``day``, one line per distinct SKU."""
        chosen = self.rng.choices(self.products, weights=self.weights, k=self.line_count())
        on_promotion = self.promoted(day)
        seen: set[str] = set()
        lines = []
        for product in chosen:
            if product.sku in seen:
                continue
            seen.add(product.sku)
            weighed = product.unit == "kg"
            if weighed:
                quantity = self.rng.randint(150, 2500)
            else:
                roll = self.rng.random()
                quantity = 1000 * (1 if roll < 0.8 else 2 if roll < 0.95 else self.rng.randint(3, 6))
            line = Line(product.sku, product.category, quantity, weighed, product.price_cents)
            if product.sku in on_promotion:
                discount = div_round_half_up(line.gross_cents * PROMOTION_DISCOUNT_PERCENT, 100)
                line = Line(product.sku, product.category, quantity, weighed, product.price_cents, discount)
            lines.append(line)
        return lines
