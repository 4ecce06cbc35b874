"""Canada's statutory holidays per province and territory, read from a table made beforehand.

Importing the ``holidays`` package and building its Canadian calendars costs about a fifth of a
second, before the first receipt of every run; the same holidays, for the years a run can
simulate, are in ``data/holidays.csv``. A year outside the table is asked of the package. A test
holds the table to the package; ``python -m pos_pipeline.simulate.holiday_table`` remakes it.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import date
from functools import cache

from pos_pipeline.reference.files import read_text

FILE = "holidays.csv"
FIRST_YEAR, LAST_YEAR = 2016, 2060
PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")


def from_package(province: str, year: int) -> dict[date, str]:
    """The package's holidays of ``province`` in ``year``."""
    import holidays

    return dict(holidays.country_holidays("CA", subdiv=province, years=year).items())


@cache
def _table() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(date, name) texts by province and year text: dates are made only for the years asked for
    (a run's first store-days need one year of 45; parsing all of them cost 0.02 s)."""
    table: dict[tuple[str, str], list[tuple[str, str]]] = {}
    rows = csv.reader(io.StringIO(read_text(FILE)))
    next(rows)  # the header
    for province, day, name in rows:
        table.setdefault((province, day[:4]), []).append((day, name))
    return table


@cache
def provincial_holidays(province: str, year: int) -> dict[date, str]:
    """The statutory holidays of ``province`` in ``year``, by date."""
    if FIRST_YEAR <= year <= LAST_YEAR:
        return {date.fromisoformat(day): name for day, name in _table().get((province, f"{year:04d}"), [])}
    return from_package(province, year)


def table_text() -> str:
    """The table's CSV text, made from the package."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["province", "date", "name"])
    for province in PROVINCES:
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            for day, name in sorted(from_package(province, year).items()):
                writer.writerow([province, day.isoformat(), name])
    return out.getvalue()


if __name__ == "__main__":
    sys.stdout.write(table_text())
