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

from pos_pipeline.reference.files import read_csv

FILE = "holidays.csv"
FIRST_YEAR, LAST_YEAR = 2016, 2060
PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")


def from_package(province: str, year: int) -> dict[date, str]:
    """The package's holidays of ``province`` in ``year``."""
    import holidays

    return dict(holidays.country_holidays("CA", subdiv=province, years=year).items())


@cache
def _table() -> dict[tuple[str, int], dict[date, str]]:
    table: dict[tuple[str, int], dict[date, str]] = {}
    for row in read_csv(FILE):
        day = date.fromisoformat(row["date"])
        table.setdefault((row["province"], day.year), {})[day] = row["name"]
    return table


@cache
def provincial_holidays(province: str, year: int) -> dict[date, str]:
    """The statutory holidays of ``province`` in ``year``, by date."""
    if FIRST_YEAR <= year <= LAST_YEAR:
        return _table().get((province, year), {})
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
