"""Checking a message against contract v1: bytes → a validated transaction, or a rejection.

Every way a message can be wrong ends in :class:`Rejection` with a short error
class (for dead-letter headers and counts) and a human-readable reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastjsonschema
import orjson

from pos_pipeline.contract.schema import SCHEMA_VERSION, schema
from pos_pipeline.money import MILLI, cash_round, cents_of, round_half_up
from pos_pipeline.reference.tax import TaxTable

MAX_MESSAGE_BYTES = 524_288  # a 500-line receipt is about 80 KiB

#: Every ``error_class`` a dead letter can carry: a small fixed set, fit for a metric label.
ERROR_CLASSES = (
    "empty",
    "too_large",
    "undecodable",
    "not_object",
    "unsupported_schema_version",
    "schema_violation",
    "unknown_store",
    "wrong_province",
    "unknown_customer",
    "unknown_sku",
    "wrong_category",
    "tax",
    "arithmetic",
    "conflicting_duplicate",
)


class Rejection(Exception):
    """A message that cannot be loaded, and why."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(f"{error_class}: {reason}")
        self.error_class = error_class
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KnownEntities:
    """What the warehouse knows: stores' provinces, SKUs' (category, unit), loyalty members."""

    stores: dict[str, str]
    products: dict[str, tuple[str, str]]
    customers: frozenset[str]


@dataclass(frozen=True, slots=True)
class ValidItem:
    """A checked basket line."""

    line_no: int
    sku: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal
    taxes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValidTax:
    """A checked tax of a receipt: the rate in force, the lines' sum it applies to, the amount."""

    code: str
    rate: Decimal
    taxable_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ValidTransaction:
    """A checked transaction, ready to load."""

    transaction_id: UUID
    store_id: str
    register_id: int
    customer_id: str | None
    payment_method: str
    occurred_at: datetime
    local_date: date
    subtotal: Decimal
    tax_total: Decimal
    rounding: Decimal
    total: Decimal
    items: tuple[ValidItem, ...]
    taxes: tuple[ValidTax, ...] = ()


def reference_entities() -> KnownEntities:
    """What the shipped reference data knows (what ``pos db init`` loads into the warehouse)."""
    from pos_pipeline.reference.catalogue import products, stores
    from pos_pipeline.reference.customers import customers

    return KnownEntities(
        stores={s.store_id: s.province for s in stores()},
        products={p.sku: (p.category, p.unit) for p in products()},
        customers=frozenset(c.customer_id for c in customers()),
    )


# A copy: compiling rewrites the schema's $refs in place, and schema() is shared.
_validate_structure = fastjsonschema.compile(copy.deepcopy(schema()))


def decode(value: bytes | None) -> dict[str, Any]:
    """Parse a message body into a JSON object, or reject it."""
    if not value:
        raise Rejection("empty", "the message has no body")
    if len(value) > MAX_MESSAGE_BYTES:
        raise Rejection("too_large", f"{len(value)} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejection("undecodable", f"not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Rejection("not_object", f"the JSON value is a {type(doc).__name__}, not an object")
    return doc


def check_structure(doc: dict[str, Any], validate_schema: Callable[[dict[str, Any]], Any]) -> None:
    """Reject an unknown ``schema_version``, then anything the compiled JSON Schema refuses."""
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise Rejection("unsupported_schema_version", f"schema_version {version!r} is not {SCHEMA_VERSION}")
    try:
        validate_schema(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise Rejection("schema_violation", exc.message[:500]) from None


def check_store(doc: dict[str, Any], known: KnownEntities) -> str:
    """The province of the message's store, which must be known and match the message's."""
    store_id = doc["store_id"]
    province = known.stores.get(store_id)
    if province is None:
        raise Rejection("unknown_store", f"store {store_id!r} is not in the warehouse")
    if doc["province"] != province:
        raise Rejection("wrong_province", f"store {store_id} is in {province}, not {doc['province']}")
    return province


def parse_occurred_at(doc: dict[str, Any]) -> datetime:
    """The message's ``occurred_at`` as an aware datetime (local time with its offset)."""
    try:
        return datetime.fromisoformat(doc["occurred_at"])
    except ValueError:
        raise Rejection(
            "schema_violation", f"occurred_at {doc['occurred_at']!r} is not a date-time"
        ) from None


def check(doc: dict[str, Any], known: KnownEntities, taxes: TaxTable) -> ValidTransaction:
    """Check structure, references, tax law and arithmetic; return the loadable transaction."""
    check_structure(doc, _validate_structure)
    return _check_semantics(doc, known, taxes)


def _check_semantics(doc: dict[str, Any], known: KnownEntities, taxes: TaxTable) -> ValidTransaction:
    store_id = doc["store_id"]
    province = check_store(doc, known)
    customer_id = doc["customer_id"]
    if customer_id is not None and customer_id not in known.customers:
        raise Rejection("unknown_customer", f"customer {customer_id!r} is not in the warehouse")
    occurred_at = parse_occurred_at(doc)
    local_date = occurred_at.date()
    try:
        in_force = taxes.taxes_on(province, local_date)
    except ValueError as exc:
        raise Rejection("tax", str(exc)) from None

    items = []
    taxable: dict[str, Decimal] = {}
    subtotal = Decimal(0)
    for expected_no, raw in enumerate(doc["items"], start=1):
        item = _check_item(raw, expected_no, known, in_force, province, local_date)
        for code in item.taxes:
            taxable[code] = taxable.get(code, Decimal(0)) + item.line_total
        subtotal += item.line_total
        items.append(item)
    _expect(
        Decimal(doc["subtotal"]) == subtotal,
        "arithmetic",
        f"subtotal {doc['subtotal']} is not Σ line_total {subtotal}",
    )
    charged = _check_taxes(doc["taxes"], taxable, {t.code: t.rate for t in in_force})
    tax_total = sum((t.amount for t in charged), Decimal(0))
    _expect(
        Decimal(doc["tax_total"]) == tax_total,
        "arithmetic",
        f"tax_total {doc['tax_total']} is not Σ tax amounts {tax_total}",
    )
    exact = subtotal + tax_total
    total = Decimal(doc["total"])
    expected_total = Decimal(cash_round(cents_of(exact))) / 100 if doc["payment_method"] == "cash" else exact
    _expect(
        total == expected_total,
        "arithmetic",
        f"total {total} should be {expected_total} for {doc['payment_method']}",
    )
    rounding = Decimal(doc["rounding"])
    _expect(rounding == total - exact, "arithmetic", f"rounding {rounding} should be {total - exact}")
    return ValidTransaction(
        transaction_id=UUID(doc["transaction_id"]),
        store_id=store_id,
        register_id=doc["register_id"],
        customer_id=customer_id,
        payment_method=doc["payment_method"],
        occurred_at=occurred_at,
        local_date=local_date,
        subtotal=subtotal,
        tax_total=tax_total,
        rounding=rounding,
        total=total,
        items=tuple(items),
        taxes=charged,
    )


def _check_item(
    raw: dict[str, Any],
    expected_no: int,
    known: KnownEntities,
    in_force: Any,
    province: str,
    local_date: date,
) -> ValidItem:
    sku = raw["sku"]
    product = known.products.get(sku)
    if product is None:
        raise Rejection("unknown_sku", f"line {expected_no}: SKU {sku!r} is not in the warehouse")
    category, unit = product
    _expect(
        raw["line_no"] == expected_no,
        "schema_violation",
        f"line numbers must run 1, 2, …; found {raw['line_no']} at {expected_no}",
    )
    _expect(
        raw["category"] == category,
        "wrong_category",
        f"line {expected_no}: SKU {sku} is {category}, not {raw['category']}",
    )
    quantity = Decimal(raw["quantity"])
    _expect(quantity > 0, "arithmetic", f"line {expected_no}: quantity {quantity} is not positive")
    _expect(
        unit == "kg" or quantity == quantity.to_integral_value(),
        "arithmetic",
        f"line {expected_no}: SKU {sku} is sold each, not by weight ({quantity})",
    )
    unit_price, discount = Decimal(raw["unit_price"]), Decimal(raw["discount"])
    gross = round_half_up(quantity * unit_price)
    _expect(discount <= gross, "arithmetic", f"line {expected_no}: discount {discount} exceeds {gross}")
    line_total = Decimal(raw["line_total"])
    _expect(
        line_total == gross - discount,
        "arithmetic",
        f"line {expected_no}: line_total {line_total} is not "
        f"{quantity} × {unit_price} − {discount} = {gross - discount}",
    )
    codes = tuple(t.code for t in in_force if category in t.categories)
    _expect(
        sorted(raw["taxes"]) == sorted(codes),
        "tax",
        f"line {expected_no}: {category} in {province} on {local_date} "
        f"carries {list(codes)}, not {raw['taxes']}",
    )
    return ValidItem(expected_no, sku, quantity.quantize(MILLI), unit_price, discount, line_total, codes)


def _check_taxes(
    entries: list[dict[str, Any]], taxable: dict[str, Decimal], rates: dict[str, Decimal]
) -> tuple[ValidTax, ...]:
    seen = [e["code"] for e in entries]
    _expect(
        sorted(seen) == sorted(taxable),
        "tax",
        f"taxes list {seen}, but the lines carry {sorted(taxable)}",
    )
    checked = []
    for entry in entries:
        code, rate = entry["code"], Decimal(entry["rate"])
        _expect(rate == rates[code], "tax", f"{code} rate {rate} is not the {rates[code]} in force")
        base = Decimal(entry["taxable_amount"])
        _expect(
            base == taxable[code],
            "arithmetic",
            f"{code} taxable_amount {base} is not {taxable[code]}",
        )
        amount = Decimal(entry["amount"])
        _expect(
            amount == round_half_up(rate * base),
            "arithmetic",
            f"{code} amount {amount} is not {rate} × {base} = {round_half_up(rate * base)}",
        )
        checked.append(ValidTax(code, rate, base, amount))
    return tuple(checked)


def _expect(condition: bool, error_class: str, reason: str) -> None:
    if not condition:
        raise Rejection(error_class, reason)
