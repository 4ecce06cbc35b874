"""build_receipt: line totals, per-code taxes on line sums, cash rounding, and contract validity."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_pipeline.contract.receipt import Line, build_receipt, rate_scaled
from pos_pipeline.contract.validate import KnownEntities, check, reference_entities
from pos_pipeline.money import round_half_up
from pos_pipeline.reference.catalogue import (
    PAYMENT_METHODS,
    Store,
    products,
    products_by_sku,
    stores,
)
from pos_pipeline.reference.customers import customers
from pos_pipeline.reference.tax import tax_table

BANANAS = "100001"  # produce, kg, 1.72
CHIPS = "200001"  # snacks, each, 4.79


@cache
def known() -> KnownEntities:
    return reference_entities()


def sku_of(category: str, unit: str = "each") -> str:
    return next(p.sku for p in products() if p.category == category and p.unit == unit)


def line(sku: str, quantity_millis: int, discount: int = 0, price: int | None = None) -> Line:
    product = products_by_sku()[sku]
    return Line(
        sku,
        product.category,
        quantity_millis,
        product.unit == "kg",
        product.price_cents if price is None else price,
        discount,
    )


def store_in(province: str) -> Store:
    return next(s for s in stores() if s.province == province)


def header(store: Store, local: datetime, customer_id: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "occurred_at": local.isoformat(timespec="milliseconds"),
        "store_id": store.store_id,
        "province": store.province,
        "register_id": 1,
        "customer_id": customer_id,
    }


def receipt(province: str, day: date, lines: list[Line], payment: str = "debit") -> dict[str, Any]:
    store = store_in(province)
    local = datetime.combine(day, time(12, 0), tzinfo=store.zone)
    return build_receipt(header(store, local), lines, tax_table().taxes_on(province, day), payment)


def taxes_by_code(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {t["code"]: t for t in doc["taxes"]}


AFTER_BREAK = date(2025, 6, 2)


# --- lines --------------------------------------------------------------------------------


def test_weighed_line_total_is_quantity_times_price_rounded() -> None:
    doc = receipt("AB", AFTER_BREAK, [line(BANANAS, 755)])
    item = doc["items"][0]
    assert item["quantity"] == "0.755"
    assert item["unit_price"] == "1.72"
    assert item["discount"] == "0.00"
    assert item["line_total"] == "1.30"  # 0.755 x 1.72 = 1.2986
    assert item["taxes"] == []


def test_weighed_line_rounds_half_up() -> None:
    # 0.375 kg x 1.72 = 0.645 exactly: half-up gives 0.65 (half-even would give 0.64).
    doc = receipt("AB", AFTER_BREAK, [line(BANANAS, 375)])
    assert doc["items"][0]["line_total"] == "0.65"


def test_discount_is_taken_off_the_rounded_gross() -> None:
    # 1.257 kg x 1.72 = 2.16204 → 2.16; minus 0.43 discount.
    doc = receipt("AB", AFTER_BREAK, [line(BANANAS, 1257, discount=43), line(CHIPS, 2000, 192)])
    first, second = doc["items"]
    assert (first["discount"], first["line_total"]) == ("0.43", "1.73")
    assert (second["quantity"], second["discount"], second["line_total"]) == ("2", "1.92", "7.66")
    assert doc["subtotal"] == "9.39"


def test_items_are_numbered_and_header_is_kept() -> None:
    lines = [line(BANANAS, 1000), line(CHIPS, 1000), line(sku_of("dairy_eggs"), 3000)]
    doc = receipt("ON", AFTER_BREAK, lines, payment="credit")
    assert [i["line_no"] for i in doc["items"]] == [1, 2, 3]
    assert [i["sku"] for i in doc["items"]] == [BANANAS, CHIPS, sku_of("dairy_eggs")]
    assert doc["store_id"] == store_in("ON").store_id
    assert doc["schema_version"] == 1
    assert doc["currency"] == "CAD"
    assert doc["payment_method"] == "credit"


# --- taxes --------------------------------------------------------------------------------


def test_ontario_hst_on_snack_and_household_only() -> None:
    household = sku_of("household")
    lines = [line(BANANAS, 1000), line(CHIPS, 1000), line(household, 1000, price=399)]
    doc = receipt("ON", AFTER_BREAK, lines)
    assert [i["taxes"] for i in doc["items"]] == [[], ["HST"], ["HST"]]
    # HST 13 % of (4.79 + 3.99) = 8.78 x 0.13 = 1.1414 → 1.14.
    assert doc["taxes"] == [{"code": "HST", "rate": "0.13", "taxable_amount": "8.78", "amount": "1.14"}]
    assert doc["subtotal"] == "10.50"
    assert doc["tax_total"] == "1.14"
    assert doc["total"] == "11.64"
    assert doc["rounding"] == "0.00"


def test_tax_is_computed_on_the_sum_of_lines_not_per_line() -> None:
    # Two 0.10 lines at 5 %: per line 0.005 → 0.01 each (0.02), on the sum 0.20 → 0.01.
    household = sku_of("household")
    doc = receipt("AB", AFTER_BREAK, [line(household, 1000, price=10)] * 2)
    assert doc["taxes"] == [{"code": "GST", "rate": "0.05", "taxable_amount": "0.20", "amount": "0.01"}]
    assert doc["tax_total"] == "0.01"


def test_tax_rounds_half_up() -> None:
    # 0.10 x 5 % = 0.005 → 0.01 (half-even would give 0.00); 0.30 x 5 % = 0.015 → 0.02.
    household = sku_of("household")
    assert receipt("AB", AFTER_BREAK, [line(household, 1000, price=10)])["tax_total"] == "0.01"
    assert receipt("AB", AFTER_BREAK, [line(household, 1000, price=30)])["tax_total"] == "0.02"
    assert receipt("AB", AFTER_BREAK, [line(household, 1000, price=9)])["tax_total"] == "0.00"


def test_quebec_gst_and_qst_both_on_the_pre_tax_price() -> None:
    household = sku_of("household")
    doc = receipt("QC", AFTER_BREAK, [line(household, 1000, price=1000), line(BANANAS, 1000)])
    assert doc["items"][0]["taxes"] == ["GST", "QST"]
    assert doc["items"][1]["taxes"] == []
    gst, qst = doc["taxes"]
    assert gst == {"code": "GST", "rate": "0.05", "taxable_amount": "10.00", "amount": "0.50"}
    # QST on 10.00, not on 10.50: 0.9975 → 1.00 (tax on tax would be 1.05).
    assert qst == {"code": "QST", "rate": "0.09975", "taxable_amount": "10.00", "amount": "1.00"}
    assert doc["tax_total"] == "1.50"
    assert doc["subtotal"] == "11.72"
    assert doc["total"] == "13.22"


def test_quebec_qst_only_on_snacks_in_the_gst_break() -> None:
    doc = receipt("QC", date(2025, 1, 10), [line(CHIPS, 1000)])
    assert doc["items"][0]["taxes"] == ["QST"]
    # 4.79 x 0.09975 = 0.4778025 → 0.48.
    assert doc["taxes"] == [{"code": "QST", "rate": "0.09975", "taxable_amount": "4.79", "amount": "0.48"}]


def test_no_tax_entries_for_a_zero_rated_basket() -> None:
    doc = receipt("NS", AFTER_BREAK, [line(BANANAS, 1500), line(sku_of("bakery"), 1000)])
    assert doc["taxes"] == []
    assert doc["tax_total"] == "0.00"
    assert doc["total"] == doc["subtotal"]


def test_snack_untaxed_in_the_gst_hst_break() -> None:
    doc = receipt("ON", date(2024, 12, 20), [line(CHIPS, 1000), line(sku_of("household"), 1000)])
    assert [i["taxes"] for i in doc["items"]] == [[], ["HST"]]
    assert doc["taxes"][0]["taxable_amount"] == doc["items"][1]["line_total"]


def test_nova_scotia_rate_change_shows_on_receipts() -> None:
    household = sku_of("household")
    before = receipt("NS", date(2025, 3, 31), [line(household, 1000, price=1000)])
    after = receipt("NS", date(2025, 4, 1), [line(household, 1000, price=1000)])
    assert (before["taxes"][0]["rate"], before["tax_total"]) == ("0.15", "1.50")
    assert (after["taxes"][0]["rate"], after["tax_total"]) == ("0.14", "1.40")


def test_rate_scaled() -> None:
    assert rate_scaled(Decimal("0.09975")) == 99_750
    assert rate_scaled(Decimal("0.13")) == 130_000
    with pytest.raises(ValueError):
        rate_scaled(Decimal("0.0000001"))


# --- cash rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment", "total", "rounding"),
    [
        ("cash", "4.90", "-0.02"),
        ("debit", "4.92", "0.00"),
        ("credit", "4.92", "0.00"),
        ("mobile_wallet", "4.92", "0.00"),
        ("gift_card", "4.92", "0.00"),
    ],
)
def test_cra_example_on_a_receipt(payment: str, total: str, rounding: str) -> None:
    household = sku_of("household")
    lines = [line(household, 1000, price=183), line(household, 1000, price=286)]
    doc = receipt("AB", AFTER_BREAK, lines, payment)
    assert doc["subtotal"] == "4.69"
    assert doc["tax_total"] == "0.23"  # the tax collected is the unrounded tax
    assert doc["total"] == total
    assert doc["rounding"] == rounding


def test_cash_rounds_up_too() -> None:
    # 4.93 → 4.95.
    doc = receipt("AB", AFTER_BREAK, [line(sku_of("dairy_eggs"), 1000, price=493)], "cash")
    assert (doc["total"], doc["rounding"]) == ("4.95", "0.02")


# --- property: every receipt balances and passes the validator ----------------------------

PRODUCTS = products()


@st.composite
def basket_lines(draw: st.DrawFn) -> list[Line]:
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        product = draw(st.sampled_from(PRODUCTS))
        if product.unit == "kg":
            millis = draw(st.integers(min_value=1, max_value=25_000))
        else:
            millis = 1000 * draw(st.integers(min_value=1, max_value=12))
        base = Line(product.sku, product.category, millis, product.unit == "kg", product.price_cents)
        discount = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=base.gross_cents)))
        lines.append(Line(product.sku, product.category, millis, base.weighed, product.price_cents, discount))
    return lines


@settings(max_examples=200, deadline=None, database=None)
@given(
    lines=basket_lines(),
    store=st.sampled_from(stores()),
    day=st.dates(min_value=date(2016, 1, 1), max_value=date(2030, 12, 31)),
    clock=st.times(min_value=time(7, 0), max_value=time(22, 59, 59)),
    payment=st.sampled_from(PAYMENT_METHODS),
    customer=st.one_of(st.none(), st.sampled_from([c.customer_id for c in customers()])),
)
def test_random_receipts_balance_and_validate(
    lines: list[Line], store: Store, day: date, clock: time, payment: str, customer: str | None
) -> None:
    local = datetime.combine(day, clock, tzinfo=store.zone)
    taxes = tax_table().taxes_on(store.province, day)
    doc = build_receipt(header(store, local, customer), lines, taxes, payment)

    subtotal = Decimal(0)
    carried: dict[str, Decimal] = {}
    for item, source in zip(doc["items"], lines, strict=True):
        quantity, price = Decimal(item["quantity"]), Decimal(item["unit_price"])
        discount, line_total = Decimal(item["discount"]), Decimal(item["line_total"])
        assert quantity * 1000 == source.quantity_millis
        assert line_total == round_half_up(quantity * price) - discount
        assert line_total >= 0
        assert item["taxes"] == list(tax_table().codes_for(store.province, item["category"], day))
        for code in item["taxes"]:
            carried[code] = carried.get(code, Decimal(0)) + line_total
        subtotal += line_total
    assert Decimal(doc["subtotal"]) == subtotal

    assert [t["code"] for t in doc["taxes"]] == [t.code for t in taxes if t.code in carried]
    rates = {t.code: t.rate for t in taxes}
    tax_total = Decimal(0)
    for entry in doc["taxes"]:
        assert Decimal(entry["rate"]) == rates[entry["code"]]
        assert Decimal(entry["taxable_amount"]) == carried[entry["code"]]
        amount = Decimal(entry["amount"])
        assert amount == round_half_up(rates[entry["code"]] * carried[entry["code"]])
        tax_total += amount
    assert Decimal(doc["tax_total"]) == tax_total

    exact = subtotal + tax_total
    total, rounding = Decimal(doc["total"]), Decimal(doc["rounding"])
    assert rounding == total - exact
    if payment == "cash":
        assert (total * 100) % 5 == 0
        assert abs(rounding) <= Decimal("0.02")
    else:
        assert total == exact
        assert doc["rounding"] == "0.00"

    valid = check(doc, known(), tax_table())
    assert valid.subtotal == subtotal
    assert valid.tax_total == tax_total
    assert valid.total == total
    assert valid.local_date == day
    assert valid.store_id == store.store_id
    assert valid.customer_id == customer
    assert len(valid.items) == len(lines)
