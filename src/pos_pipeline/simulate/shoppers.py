"""Who is shopping: loyalty members with home stores and habits, and anonymous shoppers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pos_pipeline.reference.customers import REFERENCE_SEED

IDENTIFIED_SHARE = 0.55
HOME_STORE_SHARE = 0.85
BASKET_HABIT_SIGMA = 0.3


class Members:
    """Loyalty members as arrays: home store, visit frequency, basket-size habit."""

    def __init__(self, ids: list[str], home_stores: Sequence[int], stores: int) -> None:
        """Members ``ids`` with their home stores (indices below ``stores``)."""
        rng = np.random.default_rng(REFERENCE_SEED)  # members' habits are chain data, not per run
        self.ids = ids
        home = np.array(home_stores)
        self.frequency = rng.gamma(2.0, 0.5, len(ids))
        self.habit = np.exp(rng.normal(0.0, BASKET_HABIT_SIGMA, len(ids)))
        self.all_cumulative = np.cumsum(self.frequency / self.frequency.sum())
        self.by_store: list[tuple[np.ndarray, np.ndarray]] = []
        for store in range(stores):
            members = np.flatnonzero(home == store)
            weights = self.frequency[members]
            self.by_store.append((members, np.cumsum(weights / weights.sum()) if len(members) else weights))

    def draw(self, rng: np.random.Generator, store: int, count: int) -> np.ndarray:
        """Member index per checkout at ``store``, or -1 for an anonymous shopper."""
        identified = rng.random(count) < IDENTIFIED_SHARE
        at_home = rng.random(count) < HOME_STORE_SHARE
        pick = rng.random(count)
        members, cumulative = self.by_store[store]
        result = np.full(count, -1, dtype=np.int64)
        if len(members):
            home_pick = members[np.searchsorted(cumulative, pick, side="right").clip(0, len(members) - 1)]
        else:
            at_home[:] = False
            home_pick = result
        away_pick = np.searchsorted(self.all_cumulative, pick, side="right").clip(0, len(self.ids) - 1)
        chosen = np.where(at_home, home_pick, away_pick)
        result[identified] = chosen[identified]
        return result
