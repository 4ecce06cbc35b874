"""The date dimension: one row per day, with Canada's statutory holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays

FIRST_DATE = date(2016, 1, 1)
LAST_DATE = date(2030, 12, 31)


@dataclass(frozen=True, slots=True)
class DateRow:
    """A row of the ``dates`` table."""

    date_key: int
    date: date
    day_of_week: int
    day_name: str
    month: int
    month_name: str
    quarter: int
    year: int
    is_weekend: bool
    holiday_name: str | None


def date_key(day: date) -> int:
    """The surrogate key of a date: ``YYYYMMDD`` as an integer."""
    return day.year * 10000 + day.month * 100 + day.day


@cache
def _national_holidays(year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("CA", years=year).items())


def date_row(day: date) -> DateRow:
    """The dimension row for one day."""
    return DateRow(
        date_key=date_key(day),
        date=day,
        day_of_week=day.isoweekday(),
        day_name=day.strftime("%A"),
        month=day.month,
        month_name=day.strftime("%B"),
        quarter=(day.month - 1) // 3 + 1,
        year=day.year,
        is_weekend=day.isoweekday() >= 6,
        holiday_name=_national_holidays(day.year).get(day),
    )


def date_rows(first: date = FIRST_DATE, last: date = LAST_DATE) -> list[DateRow]:
    """Dimension rows for every day from ``first`` to ``last`` inclusive."""
    return [date_row(first + timedelta(days=n)) for n in range((last - first).days + 1)]
