"""contract.validate: decode/check accept generated messages and reject each kind of bad one."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import pytest

from pos_pipeline.contract import validate
from pos_pipeline.contract.validate import (
    KnownEntities,
    Rejection,
    ValidTransaction,
    check,
    decode,
    reference_entities,
)
from pos_pipeline.money import CENT, cash_round, cents_of, round_half_up
from pos_pipeline.reference.catalogue import Store, products_by_sku, stores
from pos_pipeline.reference.categories import ZERO_RATED
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.run import JsonLinesSink, SimulationOptions, run_simulation

Doc = dict[str, Any]
SIZE_LIMIT = validate.MAX_MESSAGE_BYTES  # the loader's message size limit (512 KiB)


@cache
def known() -> KnownEntities:
    return reference_entities()


def store_in(province: str) -> Store:
    return next(s for s in stores() if s.province == province)


@cache
def simulated_day(day: date, seed: int) -> tuple[bytes, ...]:
    """Every checkout the simulator rings up on ``day``."""
    return tuple(ChainSimulator(f"{seed}", 1.0).day(day).values)


def generated(
    province: str = "ON",
    local: datetime = datetime(2025, 6, 2, 12, 0),
    want: Callable[[Doc], bool] | None = None,
    seed: int = 11,
) -> Doc:
    """A fresh copy of the first simulated checkout in ``province`` that day that satisfies ``want``."""
    store_ids = {s.store_id for s in stores() if s.province == province}
    for body in simulated_day(local.date(), seed):
        doc: Doc = orjson.loads(body)
        if doc["store_id"] in store_ids and (want is None or want(doc)):
            return doc
    raise AssertionError("the generator never produced the wanted transaction")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def rebalance(doc: Doc, *, lines: bool = True, taxes: bool = True) -> Doc:
    """Recompute the dependent amounts after a mutation, independently of build_receipt.

    ``lines=False`` keeps the items' line totals; ``taxes=False`` keeps the tax entries'
    taxable amounts and amounts. Subtotal, tax total, total and rounding always follow.
    """
    subtotal = Decimal(0)
    carried: dict[str, Decimal] = {}
    for item in doc["items"]:
        if lines:
            gross = round_half_up(Decimal(item["quantity"]) * Decimal(item["unit_price"]))
            item["line_total"] = money(gross - Decimal(item["discount"]))
        line_total = Decimal(item["line_total"])
        subtotal += line_total
        for code in item["taxes"]:
            carried[code] = carried.get(code, Decimal(0)) + line_total
    tax_total = Decimal(0)
    for entry in doc["taxes"]:
        if taxes:
            base = carried.get(entry["code"], Decimal(0))
            entry["taxable_amount"] = money(base)
            entry["amount"] = money(round_half_up(Decimal(entry["rate"]) * base))
        tax_total += Decimal(entry["amount"])
    exact = subtotal + tax_total
    total = Decimal(cash_round(cents_of(exact))) / 100 if doc["payment_method"] == "cash" else exact
    doc["subtotal"] = money(subtotal)
    doc["tax_total"] = money(tax_total)
    doc["total"] = money(total)
    doc["rounding"] = money(total - exact)
    return doc


def accept(doc: Doc) -> ValidTransaction:
    return check(decode(orjson.dumps(doc)), known(), tax_table())


def reject(doc: Doc) -> Rejection:
    with pytest.raises(Rejection) as info:
        accept(doc)
    return info.value


def exact_cents(doc: Doc) -> int:
    return cents_of(Decimal(doc["subtotal"]) + Decimal(doc["tax_total"]))


def has_category(*categories: str) -> Callable[[Doc], bool]:
    return lambda doc: any(i["category"] in categories for i in doc["items"])


def has_tax(code: str) -> Callable[[Doc], bool]:
    return lambda doc: any(t["code"] == code for t in doc["taxes"])


# --- good messages ------------------------------------------------------------------------


def test_generated_transaction_is_accepted() -> None:
    doc = generated()
    valid = accept(doc)
    assert str(valid.transaction_id) == doc["transaction_id"]
    assert valid.store_id == doc["store_id"]
    assert valid.local_date == date(2025, 6, 2)
    assert valid.total == Decimal(doc["total"])
    assert [i.line_no for i in valid.items] == list(range(1, len(doc["items"]) + 1))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("province", ["ON", "QC", "BC", "NS", "MB", "SK", "AB", "PE"])
def test_rebalance_reproduces_generated_messages(province: str, seed: int) -> None:
    """The test's own arithmetic agrees with build_receipt, so mutations below are isolated."""
    doc = generated(province, seed=seed)
    assert rebalance(orjson.loads(orjson.dumps(doc))) == doc
    accept(doc)


def test_two_thousand_simulated_transactions_all_pass() -> None:
    buffer = io.BytesIO()
    options = SimulationOptions(seed=20250317, count=2000, start=date(2025, 3, 17))
    assert run_simulation(options, JsonLinesSink(buffer)) == 2000
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2000
    methods: Counter[str] = Counter()
    transaction_ids = set()
    for body in lines:
        valid = check(decode(body), known(), tax_table())
        methods[valid.payment_method] += 1
        transaction_ids.add(valid.transaction_id)
        if valid.payment_method == "cash":
            assert cents_of(valid.total) % 5 == 0
        assert valid.local_date >= date(2025, 3, 17)
    assert len(transaction_ids) == 2000
    assert set(methods) == {"cash", "debit", "credit", "mobile_wallet", "gift_card"}


def test_message_of_exactly_the_size_limit_is_decoded() -> None:
    body = orjson.dumps(generated())
    padded = body[:-1] + b" " * (SIZE_LIMIT - len(body)) + b"}"
    assert len(padded) == SIZE_LIMIT
    accept_doc = decode(padded)
    check(accept_doc, known(), tax_table())


# --- decode -------------------------------------------------------------------------------


def decode_error(body: bytes | None) -> str:
    with pytest.raises(Rejection) as info:
        decode(body)
    return info.value.error_class


@pytest.mark.parametrize("body", [b"", None])
def test_empty_body(body: bytes | None) -> None:
    assert decode_error(body) == "empty"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"\xff\xfe{\x00}\x00",
        b"{",
        b'{"a": }',
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
    ],
)
def test_undecodable_body(body: bytes) -> None:
    assert decode_error(body) == "undecodable"


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b"5", b"-1.5", b'"text"', b"null", b"true"])
def test_non_object_json(body: bytes) -> None:
    assert decode_error(body) == "not_object"


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
)
def test_deeply_nested_json_is_rejected_not_crashing(body: bytes) -> None:
    assert len(body) <= SIZE_LIMIT
    assert decode_error(body) == "undecodable"


def test_too_large() -> None:
    assert validate.MAX_MESSAGE_BYTES == 512 * 1024
    body = b'{"pad": "' + b"x" * SIZE_LIMIT + b'"}'
    assert decode_error(body) == "too_large"
    assert decode_error(b" " * (SIZE_LIMIT + 1)) == "too_large"


# --- schema version and structure ---------------------------------------------------------


@pytest.mark.parametrize("version", [2, 0, "1", None, True, 1.5, [1]])
def test_unsupported_schema_version(version: Any) -> None:
    doc = generated()
    doc["schema_version"] = version
    assert reject(doc).error_class == "unsupported_schema_version"


def test_missing_schema_version() -> None:
    doc = generated()
    del doc["schema_version"]
    assert reject(doc).error_class == "unsupported_schema_version"


@pytest.mark.parametrize(
    "field",
    ["transaction_id", "occurred_at", "store_id", "customer_id", "items", "currency", "total"],
)
def test_missing_field(field: str) -> None:
    doc = generated()
    del doc[field]
    assert reject(doc).error_class == "schema_violation"


def test_missing_item_field() -> None:
    doc = generated()
    del doc["items"][0]["taxes"]
    assert reject(doc).error_class == "schema_violation"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.update(subtotal=float(d["subtotal"])), id="subtotal-number"),
        pytest.param(lambda d: d.update(total=float(d["total"])), id="total-number"),
        pytest.param(lambda d: d["items"][0].update(unit_price=4.99), id="unit-price-number"),
        pytest.param(lambda d: d["items"][0].update(line_total=12), id="line-total-int"),
        pytest.param(lambda d: d.update(subtotal=d["subtotal"] + "0"), id="three-decimals"),
        pytest.param(lambda d: d.update(total="1,00"), id="comma"),
        pytest.param(lambda d: d.update(total="-" + d["total"]), id="negative-total"),
        pytest.param(lambda d: d["items"][0].update(discount="-0.50"), id="negative-discount"),
    ],
)
def test_malformed_money(mutate: Callable[[Doc], None]) -> None:
    doc = generated()
    mutate(doc)
    assert reject(doc).error_class == "schema_violation"


@pytest.mark.parametrize("quantity", ["-1", "-0.500", "1e3", "1.2345", "", 2])
def test_malformed_quantity(quantity: Any) -> None:
    doc = generated()
    doc["items"][0]["quantity"] = quantity
    assert reject(doc).error_class == "schema_violation"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.update(currency="USD"), id="currency"),
        pytest.param(lambda d: d.update(province="ZZ"), id="province"),
        pytest.param(lambda d: d.update(payment_method="cheque"), id="payment"),
        pytest.param(lambda d: d.update(items=[]), id="no-items"),
        pytest.param(lambda d: d.update(register_id=0), id="register"),
        pytest.param(lambda d: d.update(transaction_id="not-a-uuid"), id="uuid"),
        pytest.param(lambda d: d.update(occurred_at="2025-06-02 12:00:00"), id="no-offset"),
        pytest.param(lambda d: d.update(extra="field"), id="extra-field"),
        pytest.param(lambda d: d["items"][0].update(taxes=["VAT"]), id="tax-code"),
        pytest.param(lambda d: d["items"][0].update(category="alcohol"), id="category"),
    ],
)
def test_schema_violations(mutate: Callable[[Doc], None]) -> None:
    doc = generated()
    mutate(doc)
    assert reject(doc).error_class == "schema_violation"


def test_line_numbers_must_run_from_one() -> None:
    doc = generated(want=lambda d: len(d["items"]) >= 2)
    doc["items"][1]["line_no"] = 5
    assert reject(doc).error_class == "schema_violation"


# --- references ---------------------------------------------------------------------------


def test_unknown_store() -> None:
    doc = generated()
    doc["store_id"] = "S999"
    assert reject(doc).error_class == "unknown_store"


def test_wrong_province_for_store() -> None:
    doc = generated("ON")
    doc["province"] = "QC"
    assert reject(doc).error_class == "wrong_province"


def test_unknown_sku() -> None:
    doc = generated()
    doc["items"][0]["sku"] = "999999"
    assert products_by_sku().get("999999") is None
    assert reject(doc).error_class == "unknown_sku"


def test_unknown_customer() -> None:
    doc = generated(want=lambda d: d["customer_id"] is not None)
    accept(doc)
    doc["customer_id"] = "C9999999"
    assert reject(doc).error_class == "unknown_customer"


def test_anonymous_customer_is_accepted() -> None:
    doc = generated()
    doc["customer_id"] = None
    accept(doc)


def test_wrong_category_for_sku() -> None:
    doc = generated(want=has_category(*ZERO_RATED))
    item = next(i for i in doc["items"] if i["category"] in ZERO_RATED)
    # Another zero-rated category: same (empty) taxes, so only the category is wrong.
    item["category"] = next(c for c in ZERO_RATED if c != item["category"])
    assert reject(doc).error_class == "wrong_category"


# --- arithmetic ---------------------------------------------------------------------------


def test_wrong_line_total() -> None:
    doc = generated()
    item = doc["items"][0]
    item["line_total"] = money(Decimal(item["line_total"]) + CENT)
    rebalance(doc, lines=False)  # subtotal, taxes and total agree with the wrong line
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert "line_total" in error.reason


def test_wrong_subtotal() -> None:
    doc = generated()
    doc["subtotal"] = money(Decimal(doc["subtotal"]) + CENT)
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert "subtotal" in error.reason


def test_wrong_tax_amount() -> None:
    doc = generated(want=lambda d: bool(d["taxes"]))
    entry = doc["taxes"][0]
    entry["amount"] = money(Decimal(entry["amount"]) + CENT)
    rebalance(doc, taxes=False)  # tax_total and total agree with the wrong amount
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert entry["code"] in error.reason


def test_wrong_taxable_amount() -> None:
    doc = generated(want=lambda d: bool(d["taxes"]))
    entry = doc["taxes"][0]
    entry["taxable_amount"] = money(Decimal(entry["taxable_amount"]) + Decimal("1.00"))
    entry["amount"] = money(round_half_up(Decimal(entry["rate"]) * Decimal(entry["taxable_amount"])))
    rebalance(doc, taxes=False)
    assert reject(doc).error_class == "arithmetic"


def test_wrong_tax_total() -> None:
    doc = generated(want=lambda d: bool(d["taxes"]))
    doc["tax_total"] = money(Decimal(doc["tax_total"]) + CENT)
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert "tax_total" in error.reason


def test_wrong_total() -> None:
    doc = generated(want=lambda d: d["payment_method"] != "cash")
    doc["total"] = money(Decimal(doc["total"]) + CENT)
    doc["rounding"] = "0.01"
    assert reject(doc).error_class == "arithmetic"


def test_negative_quantity_is_rejected_and_zero_quantity_is_arithmetic() -> None:
    doc = generated()
    doc["items"][0]["quantity"] = "-1"
    assert reject(doc).error_class == "schema_violation"
    doc = generated()
    doc["items"][0]["quantity"] = "0"
    rebalance(doc)
    assert reject(doc).error_class == "arithmetic"


def test_fractional_quantity_of_an_each_product() -> None:
    def each_line(d: Doc) -> bool:
        return any(products_by_sku()[i["sku"]].unit == "each" for i in d["items"])

    doc = generated(want=each_line)
    item = next(i for i in doc["items"] if products_by_sku()[i["sku"]].unit == "each")
    item["quantity"] = "1.5"
    rebalance(doc)  # line total and everything after it agree with 1.5 units
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert "each" in error.reason


def test_fractional_quantity_of_a_kg_product_is_fine() -> None:
    def kg_line(d: Doc) -> bool:
        return any(products_by_sku()[i["sku"]].unit == "kg" for i in d["items"])

    doc = generated(want=kg_line)
    item = next(i for i in doc["items"] if products_by_sku()[i["sku"]].unit == "kg")
    item["quantity"] = "1.5"
    accept(rebalance(doc))


def test_discount_above_gross() -> None:
    doc = generated()
    item = doc["items"][0]
    item["discount"] = money(Decimal(item["line_total"]) + Decimal(item["discount"]) + CENT)
    item["line_total"] = "0.00"
    rebalance(doc, lines=False)
    assert reject(doc).error_class == "arithmetic"


def test_cash_total_not_rounded() -> None:
    doc = generated(want=lambda d: exact_cents(d) % 5 != 0)
    doc["payment_method"] = "cash"
    accept(rebalance(doc))  # the correctly rounded cash message is fine
    doc["total"] = money(Decimal(doc["subtotal"]) + Decimal(doc["tax_total"]))
    doc["rounding"] = "0.00"
    error = reject(doc)
    assert error.error_class == "arithmetic"
    assert "cash" in error.reason


def test_card_total_must_not_be_cash_rounded() -> None:
    doc = generated(want=lambda d: exact_cents(d) % 5 != 0 and d["payment_method"] == "cash")
    accept(doc)
    doc["payment_method"] = "debit"
    assert reject(doc).error_class == "arithmetic"


def test_rounding_must_match() -> None:
    doc = generated(want=lambda d: exact_cents(d) % 5 != 0 and d["payment_method"] == "cash")
    doc["rounding"] = "0.00"
    assert reject(doc).error_class == "arithmetic"


# --- tax law ------------------------------------------------------------------------------


def test_wrong_tax_rate_nova_scotia_after_the_cut() -> None:
    doc = generated("NS", datetime(2025, 4, 2, 12, 0), want=has_tax("HST"))
    entry = next(t for t in doc["taxes"] if t["code"] == "HST")
    assert entry["rate"] == "0.14"
    entry["rate"] = "0.15"
    rebalance(doc)  # amounts computed at the wrong rate, so only the rate is wrong
    error = reject(doc)
    assert error.error_class == "tax"
    assert "rate" in error.reason


def test_nova_scotia_old_rate_still_right_before_the_cut() -> None:
    doc = generated("NS", datetime(2025, 3, 31, 12, 0), want=has_tax("HST"))
    assert next(t for t in doc["taxes"] if t["code"] == "HST")["rate"] == "0.15"
    accept(doc)


def test_tax_code_not_in_force_gst_on_a_snack_in_the_break() -> None:
    doc = generated("AB", datetime(2024, 12, 20, 12, 0), want=has_category("snacks"))
    snack = next(i for i in doc["items"] if i["category"] == "snacks")
    assert snack["taxes"] == []
    snack["taxes"] = ["GST"]
    if not has_tax("GST")(doc):
        doc["taxes"].append({"code": "GST", "rate": "0.05", "taxable_amount": "0.00", "amount": "0.00"})
    rebalance(doc)
    assert reject(doc).error_class == "tax"


def test_line_missing_a_tax() -> None:
    doc = generated("QC", want=has_tax("QST"))
    item = next(i for i in doc["items"] if "QST" in i["taxes"])
    item["taxes"] = ["GST"]
    rebalance(doc)
    assert reject(doc).error_class == "tax"


def test_tax_entry_for_a_code_no_line_carries() -> None:
    doc = generated("AB", want=lambda d: not d["taxes"])
    doc["taxes"] = [{"code": "GST", "rate": "0.05", "taxable_amount": "0.00", "amount": "0.00"}]
    assert reject(doc).error_class == "tax"


def test_missing_tax_entry() -> None:
    doc = generated(want=has_tax("HST"))
    doc["taxes"] = []
    rebalance(doc)
    assert reject(doc).error_class == "tax"


def test_date_before_known_tax_law() -> None:
    doc = generated()
    doc["occurred_at"] = "2015-12-31T12:00:00.000-05:00"
    assert reject(doc).error_class == "tax"
