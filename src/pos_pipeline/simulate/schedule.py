"""When stores sell: opening hours, holidays, the weekly pattern and the intraday curve.

Everything here is per store-day: whether the store opens, from when to when
(local time), how much traffic to expect, and the UTC offset in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
from dateutil.easter import easter

from pos_pipeline.reference.catalogue import Store
from pos_pipeline.simulate.holiday_table import provincial_holidays

TYPICAL_DAILY_TRANSACTIONS = 2000  # a 4,000 m² Canadian supermarket on an ordinary weekday
TYPICAL_FLOOR_AREA_M2 = 4000
SLOT_S = 1800  # the intraday curve has one weight per half hour
WEEKDAY_FACTOR = (0.85, 0.85, 0.92, 1.00, 1.15, 1.25, 0.98)  # Monday .. Sunday
HOLIDAY_OPEN_FACTOR = 0.7  # other statutory holidays: Sunday hours, quieter
EVE_OF_CLOSURE_FACTOR = 1.35  # people stock up the day before a closure

# Relative traffic per half hour of the local day: lunch and after-work peaks.
_HOURLY = {
    7: 0.35,
    8: 0.55,
    9: 0.75,
    10: 0.95,
    11: 1.15,
    12: 1.45,
    13: 1.25,
    14: 1.0,
    15: 1.05,
    16: 1.35,
    17: 1.75,
    18: 1.55,
    19: 1.05,
    20: 0.75,
    21: 0.5,
    22: 0.3,
}
INTRADAY = np.array([_HOURLY.get(slot // 2, 0.3) for slot in range(48)], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class StoreDay:
    """One store's trading day: local opening seconds, expected checkouts, UTC offset."""

    day: date
    opens_s: int
    closes_s: int
    expected: float
    utc_offset_s: int
    offset_text: str

    def utc_ms(self, local_ms: np.ndarray) -> np.ndarray:
        """UTC epoch milliseconds of local milliseconds-since-midnight on this day."""
        midnight = (self.day - date(1970, 1, 1)).days * 86_400_000
        return midnight + local_ms - self.utc_offset_s * 1000

    def slot_weights(self) -> np.ndarray:
        """Normalised intraday weights over the open half-hours."""
        first, last = self.opens_s // SLOT_S, -(-self.closes_s // SLOT_S)
        weights = np.zeros(48)
        weights[first:last] = INTRADAY[first:last]
        normalised: np.ndarray = weights / weights.sum()
        return normalised


# Ontario's Retail Business Holidays Act (Boxing Day left the list in 1996).
_ONTARIO_CLOSED = {
    "New Year's Day",
    "Family Day",
    "Good Friday",
    "Victoria Day",
    "Canada Day",
    "Labor Day",
    "Thanksgiving Day",
    "Christmas Day",
}


def is_closed(province: str, day: date) -> bool:
    """Whether grocers in ``province`` close on ``day``."""
    if (day.month, day.day) in ((12, 25), (1, 1)) or day == easter(day.year):
        return True
    if province == "ON":
        if (day.month, day.day) == (7, 2) and day.weekday() == 0:  # Canada Day on a Sunday moves
            return True
        return provincial_holidays(province, day.year).get(day) in _ONTARIO_CLOSED
    if province == "QC":
        # Quebec's Act respecting hours and days of admission to commercial establishments (c. H-2.1, s. 3).
        fixed = (day.month, day.day) in ((1, 2), (6, 24), (7, 1))
        return fixed or provincial_holidays(province, day.year).get(day) == "Labor Day"
    return False


def holiday_name(province: str, day: date) -> str | None:
    """The statutory holiday on ``day`` in ``province``, if any."""
    return provincial_holidays(province, day.year).get(day)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60


def store_day(store: Store, day: date, scale: float) -> StoreDay | None:
    """The trading day of ``store`` on local date ``day``, or None when it is closed."""
    if is_closed(store.province, day):
        return None
    opens, closes = _seconds(store.opens), _seconds(store.closes)
    factor = WEEKDAY_FACTOR[day.weekday()]
    if day.weekday() == 6 or holiday_name(store.province, day) is not None:
        opens, closes = opens + 3600, closes - 3600
        if day.weekday() != 6:
            factor *= HOLIDAY_OPEN_FACTOR
    if is_closed(store.province, day + timedelta(days=1)):
        factor *= EVE_OF_CLOSURE_FACTOR
    expected = TYPICAL_DAILY_TRANSACTIONS * scale * factor * store.floor_area_m2 / TYPICAL_FLOOR_AREA_M2
    # DST switches at 02:00, when every store is shut: the offset at opening holds all day.
    seconds, text = local_offset(store, day, opens)
    return StoreDay(day, opens, closes, expected, seconds, text)


def local_offset(store: Store, day: date, at_s: int) -> tuple[int, str]:
    """The store's UTC offset at ``at_s`` seconds after local midnight: seconds and "-04:00"."""
    offset = datetime.combine(day, time(at_s // 3600, at_s % 3600 // 60), tzinfo=store.zone).utcoffset()
    assert offset is not None
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return seconds, f"{sign}{hours:02d}:{minutes:02d}"


def closed_day(store: Store, day: date, at_s: int) -> StoreDay:
    """A day the store does not trade, for timestamping what happens at ``at_s`` (a delivery)."""
    seconds, text = local_offset(store, day, at_s)
    return StoreDay(day, at_s, at_s, 0.0, seconds, text)


def chain_daily_transactions(stores: tuple[Store, ...], scale: float) -> float:
    """Expected checkouts across the chain on an ordinary Thursday."""
    return sum(TYPICAL_DAILY_TRANSACTIONS * scale * s.floor_area_m2 / TYPICAL_FLOOR_AREA_M2 for s in stores)
