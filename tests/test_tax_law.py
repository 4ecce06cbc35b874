"""Sales-tax law as tax_table() encodes it: rates by province and date, and what is taxed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_pipeline.reference.categories import (
    CATEGORIES,
    NON_FOOD,
    TAXABLE_FOOD,
    ZERO_RATED,
    tax_class,
)
from pos_pipeline.reference.tax import tax_table

PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")
HST_PROVINCES = ("NB", "NL", "NS", "ON", "PE")
GST_PROVINCES = ("AB", "BC", "MB", "NT", "NU", "QC", "SK", "YT")
FIRST_DAY = date(2016, 1, 1)

BREAK_FIRST = date(2024, 12, 14)
BREAK_LAST = date(2025, 2, 15)

PROPERTY = settings(max_examples=300, deadline=None, database=None)


def rates(province: str, day: date) -> dict[str, Decimal]:
    return {t.code: t.rate for t in tax_table().taxes_on(province, day)}


def codes(province: str, category: str, day: date) -> set[str]:
    return set(tax_table().codes_for(province, category, day))


def federal(province: str) -> str:
    return "HST" if province in HST_PROVINCES else "GST"


# --- rates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "day", "expected"),
    [
        ("ON", date(2016, 1, 1), {"HST": Decimal("0.13")}),
        ("ON", date(2025, 6, 1), {"HST": Decimal("0.13")}),
        ("QC", date(2016, 1, 1), {"GST": Decimal("0.05"), "QST": Decimal("0.09975")}),
        ("QC", date(2025, 6, 1), {"GST": Decimal("0.05"), "QST": Decimal("0.09975")}),
        ("AB", date(2025, 6, 1), {"GST": Decimal("0.05")}),
        ("NT", date(2025, 6, 1), {"GST": Decimal("0.05")}),
        ("NU", date(2025, 6, 1), {"GST": Decimal("0.05")}),
        ("YT", date(2025, 6, 1), {"GST": Decimal("0.05")}),
        ("BC", date(2025, 6, 1), {"GST": Decimal("0.05"), "PST": Decimal("0.07")}),
        ("NS", date(2025, 3, 31), {"HST": Decimal("0.15")}),
        ("NS", date(2025, 4, 1), {"HST": Decimal("0.14")}),
        ("NS", date(2016, 1, 1), {"HST": Decimal("0.15")}),
        ("MB", date(2019, 6, 30), {"GST": Decimal("0.05"), "RST": Decimal("0.08")}),
        ("MB", date(2019, 7, 1), {"GST": Decimal("0.05"), "RST": Decimal("0.07")}),
        ("SK", date(2017, 3, 22), {"GST": Decimal("0.05"), "PST": Decimal("0.05")}),
        ("SK", date(2017, 3, 23), {"GST": Decimal("0.05"), "PST": Decimal("0.06")}),
        ("NB", date(2016, 6, 30), {"HST": Decimal("0.13")}),
        ("NB", date(2016, 7, 1), {"HST": Decimal("0.15")}),
        ("NL", date(2016, 6, 30), {"HST": Decimal("0.13")}),
        ("NL", date(2016, 7, 1), {"HST": Decimal("0.15")}),
        ("PE", date(2016, 9, 30), {"HST": Decimal("0.14")}),
        ("PE", date(2016, 10, 1), {"HST": Decimal("0.15")}),
    ],
)
def test_rates_by_province_and_date(province: str, day: date, expected: dict[str, Decimal]) -> None:
    assert rates(province, day) == expected


@pytest.mark.parametrize("province", PROVINCES)
def test_federal_tax_is_gst_or_hst_never_both(province: str) -> None:
    for day in (FIRST_DAY, date(2020, 1, 1), date(2025, 1, 1), date(2030, 12, 31)):
        in_force = rates(province, day)
        assert federal(province) in in_force
        assert not {"GST", "HST"} <= in_force.keys()


def test_taxes_are_listed_in_contract_order() -> None:
    assert [t.code for t in tax_table().taxes_on("QC", date(2025, 6, 1))] == ["GST", "QST"]
    assert [t.code for t in tax_table().taxes_on("MB", date(2025, 6, 1))] == ["GST", "RST"]


def test_dates_before_the_first_date_raise() -> None:
    table = tax_table()
    assert table.first_date == FIRST_DAY
    with pytest.raises(ValueError, match="2016-01-01"):
        table.taxes_on("ON", date(2015, 12, 31))
    with pytest.raises(ValueError):
        table.codes_for("QC", "household", date(2010, 6, 1))
    # The first date itself is known.
    assert rates("ON", FIRST_DAY) == {"HST": Decimal("0.13")}


# --- the 2024-25 GST/HST break ------------------------------------------------------------


@pytest.mark.parametrize("province", PROVINCES)
@pytest.mark.parametrize("category", TAXABLE_FOOD)
def test_gst_hst_break_on_taxable_food(province: str, category: str) -> None:
    fed = federal(province)
    assert fed in codes(province, category, BREAK_FIRST - timedelta(days=1))  # 2024-12-13
    assert fed not in codes(province, category, BREAK_FIRST)  # 2024-12-14
    assert fed not in codes(province, category, date(2025, 1, 1))
    assert fed not in codes(province, category, BREAK_LAST)  # 2025-02-15
    assert fed in codes(province, category, BREAK_LAST + timedelta(days=1))  # 2025-02-16


@pytest.mark.parametrize("province", PROVINCES)
@pytest.mark.parametrize("category", NON_FOOD)
def test_non_food_keeps_gst_hst_in_the_break(province: str, category: str) -> None:
    for day in (BREAK_FIRST, date(2025, 1, 1), BREAK_LAST):
        assert federal(province) in codes(province, category, day)


def test_hst_province_charges_nothing_on_snacks_in_the_break() -> None:
    for province in HST_PROVINCES:
        assert codes(province, "snacks", date(2024, 12, 20)) == set()
        assert codes(province, "snacks", date(2024, 12, 13)) == {"HST"}


@pytest.mark.parametrize("category", TAXABLE_FOOD)
def test_quebec_keeps_qst_in_the_break(category: str) -> None:
    for day in (BREAK_FIRST, date(2025, 1, 15), BREAK_LAST):
        assert codes("QC", category, day) == {"QST"}
    assert codes("QC", category, date(2025, 2, 16)) == {"GST", "QST"}


def test_provinces_keep_their_own_taxes_in_the_break() -> None:
    day = date(2025, 1, 15)
    assert codes("MB", "snacks", day) == {"RST"}
    assert codes("SK", "candy", day) == {"PST"}
    assert codes("BC", "soft_drinks", day) == {"PST"}
    assert codes("BC", "snacks", day) == set()


# --- provincial taxes on food -------------------------------------------------------------


def test_bc_pst_on_soft_drinks_only_from_2021_04_01() -> None:
    assert "PST" not in codes("BC", "soft_drinks", date(2021, 3, 31))
    assert "PST" in codes("BC", "soft_drinks", date(2021, 4, 1))
    assert codes("BC", "soft_drinks", date(2021, 4, 1)) == {"GST", "PST"}
    assert codes("BC", "soft_drinks", date(2018, 1, 1)) == {"GST"}


@PROPERTY
@given(
    st.dates(min_value=FIRST_DAY, max_value=date(2030, 12, 31)),
    st.sampled_from(("snacks", "candy", "prepared_food")),
)
def test_bc_pst_never_on_snacks_candy_prepared_food(day: date, category: str) -> None:
    assert "PST" not in codes("BC", category, day)


@pytest.mark.parametrize("category", NON_FOOD)
def test_provincial_sales_taxes_on_non_food(category: str) -> None:
    day = date(2025, 6, 1)
    assert codes("BC", category, day) == {"GST", "PST"}
    assert codes("SK", category, day) == {"GST", "PST"}
    assert codes("MB", category, day) == {"GST", "RST"}
    assert codes("QC", category, day) == {"GST", "QST"}
    assert codes("ON", category, day) == {"HST"}
    assert codes("AB", category, day) == {"GST"}


@pytest.mark.parametrize("category", TAXABLE_FOOD)
def test_saskatchewan_pst_on_taxable_food_from_2017_04_01(category: str) -> None:
    assert "PST" not in codes("SK", category, date(2017, 3, 31))
    assert "PST" in codes("SK", category, date(2017, 4, 1))


@pytest.mark.parametrize("category", TAXABLE_FOOD)
def test_manitoba_rst_follows_gst_on_taxable_food(category: str) -> None:
    assert codes("MB", category, date(2018, 5, 1)) == {"GST", "RST"}
    assert codes("MB", category, date(2025, 6, 1)) == {"GST", "RST"}


# --- zero-rated basic groceries -----------------------------------------------------------


@PROPERTY
@given(
    st.sampled_from(PROVINCES),
    st.dates(min_value=FIRST_DAY, max_value=date(2030, 12, 31)),
    st.sampled_from(ZERO_RATED),
)
def test_zero_rated_never_taxed(province: str, day: date, category: str) -> None:
    assert codes(province, category, day) == set()


def _boundary_dates() -> list[date]:
    table = tax_table()
    edges = {r.effective_from for r in table.rates} | {r.effective_to for r in table.rates}
    edges |= {r.effective_from for r in table.rules} | {r.effective_to for r in table.rules}
    days = set()
    for edge in edges:
        if edge is not None:
            days |= {edge - timedelta(days=1), edge}
    return sorted(d for d in days if d >= table.first_date)


def test_zero_rated_never_taxed_on_any_law_change() -> None:
    for day in _boundary_dates():
        for province in PROVINCES:
            for category in ZERO_RATED:
                assert codes(province, category, day) == set(), (province, category, day)


# --- every province always has a tax ------------------------------------------------------


@PROPERTY
@given(st.sampled_from(PROVINCES), st.dates(min_value=FIRST_DAY, max_value=date(2030, 12, 31)))
def test_every_province_has_a_tax_every_day(province: str, day: date) -> None:
    in_force = tax_table().taxes_on(province, day)
    assert in_force
    for tax in in_force:
        assert Decimal(0) < tax.rate < Decimal(1)
    # Non-food is always taxed by at least the federal part.
    assert federal(province) in codes(province, "household", day)


def test_every_province_has_a_tax_on_every_law_change() -> None:
    for day in _boundary_dates():
        for province in PROVINCES:
            assert tax_table().taxes_on(province, day), (province, day)


def test_covered_categories_are_contract_categories() -> None:
    for tax in tax_table().taxes_on("QC", date(2025, 6, 1)):
        assert tax.categories <= set(CATEGORIES)


# --- categories ---------------------------------------------------------------------------


def test_categories_partition() -> None:
    assert len(CATEGORIES) == 14
    assert len(set(CATEGORIES)) == 14
    assert not set(ZERO_RATED) & set(TAXABLE_FOOD)
    assert not set(TAXABLE_FOOD) & set(NON_FOOD)
    assert not set(ZERO_RATED) & set(NON_FOOD)


def test_tax_class() -> None:
    assert tax_class("produce") == "zero_rated_basic_grocery"
    assert tax_class("baby_food") == "zero_rated_basic_grocery"
    assert tax_class("candy") == "taxable_food"
    assert tax_class("pet_supplies") == "non_food"
    with pytest.raises(ValueError, match="unknown category"):
        tax_class("alcohol")
