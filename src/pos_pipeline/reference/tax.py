"""Canadian sales-tax law by province and date: the one source of truth.

Rates (``data/tax_rates.csv``) say what each tax is; rules (``data/tax_rules.csv``)
say which categories it applies to. Both are half-open date ranges
``[effective_from, effective_to)``. The simulator, the validator and the
warehouse's ``tax_rates`` table all read these two files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from pos_pipeline.reference.categories import CATEGORIES
from pos_pipeline.reference.files import read_csv

TAX_CODES = ("GST", "HST", "PST", "QST", "RST")


@dataclass(frozen=True, slots=True)
class TaxRate:
    """One tax's rate in one province over a date range."""

    province: str
    code: str
    rate: Decimal
    effective_from: date
    effective_to: date | None
    source: str

    def in_force(self, day: date) -> bool:
        """Whether this rate applies on ``day``."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True, slots=True)
class TaxRule:
    """The categories a tax applies to, in a province (or ``*``), over a date range."""

    code: str
    province: str
    categories: frozenset[str]
    effective_from: date
    effective_to: date | None
    source: str

    def covers(self, province: str, category: str, day: date) -> bool:
        """Whether this rule makes ``category`` taxable in ``province`` on ``day``."""
        return (
            self.province in ("*", province)
            and category in self.categories
            and self.effective_from <= day
            and (self.effective_to is None or day < self.effective_to)
        )


@dataclass(frozen=True, slots=True)
class AppliedTax:
    """A tax in force on a date, with the categories it applies to that day."""

    code: str
    rate: Decimal
    categories: frozenset[str]


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


class TaxTable:
    """Answers "which taxes, at what rate, on which categories" for a province and date."""

    def __init__(self, rates: list[TaxRate], rules: list[TaxRule]) -> None:
        self.rates = rates
        self.rules = rules
        self.first_date = min(r.effective_from for r in rates)
        self._memo: dict[tuple[str, date], tuple[AppliedTax, ...]] = {}

    def taxes_on(self, province: str, day: date) -> tuple[AppliedTax, ...]:
        """The taxes in force in ``province`` on ``day``, each with the categories it covers."""
        memo = self._memo.get((province, day))
        if memo is not None:
            return memo
        if day < self.first_date:
            raise ValueError(f"no tax rates are known before {self.first_date.isoformat()}")
        applied = []
        for rate in self.rates:
            if rate.province == province and rate.in_force(day):
                covered = frozenset(
                    c
                    for c in CATEGORIES
                    if any(rule.code == rate.code and rule.covers(province, c, day) for rule in self.rules)
                )
                applied.append(AppliedTax(rate.code, rate.rate, covered))
        result = tuple(sorted(applied, key=lambda t: TAX_CODES.index(t.code)))
        self._memo[(province, day)] = result
        return result

    def codes_for(self, province: str, category: str, day: date) -> tuple[str, ...]:
        """The tax codes charged on a line of ``category`` in ``province`` on ``day``."""
        return tuple(t.code for t in self.taxes_on(province, day) if category in t.categories)


@cache
def tax_table() -> TaxTable:
    """The shipped tax law, read once."""
    rates = [
        TaxRate(
            r["province"],
            r["tax_code"],
            Decimal(r["rate"]),
            date.fromisoformat(r["effective_from"]),
            _day(r["effective_to"]),
            r["source"],
        )
        for r in read_csv("tax_rates.csv")
    ]
    rules = [
        TaxRule(
            r["tax_code"],
            r["province"],
            frozenset(r["categories"].split()),
            date.fromisoformat(r["effective_from"]),
            _day(r["effective_to"]),
            r["source"],
        )
        for r in read_csv("tax_rules.csv")
    ]
    return TaxTable(rates, rules)
