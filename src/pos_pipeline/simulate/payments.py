"""How shoppers pay: the mix of methods depends on the basket's total."""

from __future__ import annotations

import numpy as np

from pos_pipeline.reference.catalogue import PAYMENT_METHODS

# Cash, debit, credit, mobile wallet, gift card, by basket total (see docs/simulation.md).
SMALL_BASKET_CENTS = 1500
LARGE_BASKET_CENTS = 7500
MIX = np.array(
    [
        [0.50, 0.25, 0.17, 0.06, 0.02],  # under $15
        [0.20, 0.37, 0.34, 0.06, 0.03],  # $15 to $75
        [0.06, 0.40, 0.48, 0.03, 0.03],  # over $75
    ]
)
CUMULATIVE = np.cumsum(MIX, axis=1)
CASH = PAYMENT_METHODS.index("cash")


def choose_methods(uniform: np.ndarray, totals_cents: np.ndarray) -> np.ndarray:
    """Index into PAYMENT_METHODS per checkout, from one uniform draw each."""
    bucket = (totals_cents >= SMALL_BASKET_CENTS).astype(np.int64) + (totals_cents > LARGE_BASKET_CENTS)
    u = uniform
    methods: np.ndarray = (u[:, None] >= CUMULATIVE[bucket]).sum(axis=1).clip(0, len(PAYMENT_METHODS) - 1)
    return methods
