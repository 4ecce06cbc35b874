"""A message checked against contract v1 and turned into the warehouse's COPY rows, in one pass.

Two checkers, one answer. The fast one works on integer cents and the message's own decimal
strings, which the contract already requires in canonical form, so the rows it writes are the
message's text, with no Decimal, UUID or datetime made per field. Anything it is not sure about
(any failed check, any text outside plain ASCII) goes to the reference checker
(:func:`pos_pipeline.contract.validate.check`), which raises the canonical :class:`Rejection`, or
accepts and the rows are written from its values instead. So a fast-path bug can only make a
message slower, never change what is accepted or rejected or why;
``tests/test_fast_check.py`` holds both paths to the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pos_pipeline.contract.validate import KnownEntities, ValidTransaction, check, decode
from pos_pipeline.contract.wire_model import WireReceipt, decode_receipt
from pos_pipeline.money import cash_round, div_round_half_up
from pos_pipeline.reference.categories import CATEGORIES
from pos_pipeline.reference.tax import TaxTable

NULL = "\\N"


@dataclass(frozen=True, slots=True)
class CheckedReceipt:
    """A loadable checkout: its id, digest, local day, and its rows in COPY text format."""

    transaction_id: str
    content_sha256: bytes
    date_key: int
    published_at: datetime | None
    transaction_row: str
    item_rows: str
    tax_rows: str
    source: Any = None  # what the caller needs to dead-letter it (the Kafka message)


@dataclass(frozen=True, slots=True)
class _InForce:
    """The tax law of one province on one day, in the fast checker's terms."""

    rates_micro: dict[str, int]
    codes: dict[str, tuple[str, ...]]  # category -> codes charged, in the law's order
    sorted_codes: dict[str, list[str]]


class ReceiptChecker:
    """Checks messages against what one warehouse knows; keeps the per-day tax law it has seen."""

    def __init__(self, known: KnownEntities, taxes: TaxTable) -> None:
        self.known = known
        self.taxes = taxes
        self._law: dict[tuple[str, str], _InForce] = {}
        #: Messages the fast path was not sure of, and handed to the reference checker.
        self.fallbacks = 0

    def check(self, value: bytes, published_at: datetime | None, source: Any = None) -> CheckedReceipt:
        """The message's rows, or :class:`Rejection` with the reference checker's reason."""
        digest = hashlib.sha256(value).digest()
        wire = decode_receipt(value)
        if wire is not None:
            try:
                fast = self._fast(wire, digest, published_at, source)
            except (KeyError, ValueError):
                fast = None
            if fast is not None:
                return fast
        self.fallbacks += 1
        tx = check(decode(value), self.known, self.taxes)
        return rows_of(tx, digest, published_at, source)

    def _law_on(self, province: str, occurred_at: str) -> tuple[_InForce, date]:
        local_date = datetime.fromisoformat(occurred_at).date()
        key = (province, occurred_at[:10])
        law = self._law.get(key)
        if law is None:
            in_force = self.taxes.taxes_on(province, local_date)
            codes = {
                category: tuple(t.code for t in in_force if category in t.categories)
                for category in CATEGORIES
            }
            law = _InForce(
                {t.code: int(t.rate.scaleb(6)) for t in in_force},
                codes,
                {category: sorted(c) for category, c in codes.items()},
            )
            if len(self._law) > 100_000:
                self._law.clear()
            self._law[key] = law
        return law, local_date

    def _fast(
        self, wire: WireReceipt, digest: bytes, published_at: datetime | None, source: Any
    ) -> CheckedReceipt | None:
        known = self.known
        province = known.stores.get(wire.store_id)
        if province is None or province != wire.province:
            return None
        customer = wire.customer_id
        if customer is not None and customer not in known.customers:
            return None
        occurred_at = wire.occurred_at
        law, local_date = self._law_on(province, occurred_at)
        tid = wire.transaction_id
        products = known.products
        codes_of = law.codes
        sorted_codes = law.sorted_codes
        taxable: dict[str, int] = {}
        subtotal = 0
        lines = []
        where = f"\t{wire.store_id}\t{occurred_at[:10]}\n"
        for expected_no, item in enumerate(wire.items, start=1):
            product = products.get(item.sku)
            if product is None or item.line_no != expected_no or item.category != product[0]:
                return None
            quantity = item.quantity
            whole, dot, fraction = quantity.partition(".")
            if dot:
                if product[1] != "kg" and fraction.strip("0"):
                    return None
                milli = int(whole) * 1000 + int(fraction.ljust(3, "0"))
                quantity_text = f"{whole}.{fraction.ljust(3, '0')}"
            else:
                milli = int(whole) * 1000
                quantity_text = f"{whole}.000"
            price = _cents(item.unit_price)
            discount = _cents(item.discount)
            gross = div_round_half_up(milli * price, 1000)
            line_total = _cents(item.line_total)
            if milli <= 0 or discount > gross or line_total != gross - discount:
                return None
            codes = codes_of[item.category]
            if sorted(item.taxes) != sorted_codes[item.category]:
                return None
            for code in codes:
                taxable[code] = taxable.get(code, 0) + line_total
            subtotal += line_total
            lines.append(
                f"{tid}\t{expected_no}\t{item.sku}\t{quantity_text}\t{item.unit_price}\t"
                f"{item.discount}\t{item.line_total}\t{{{','.join(codes)}}}{where}"
            )
        if _cents(wire.subtotal) != subtotal:
            return None
        if sorted(t.code for t in wire.taxes) != sorted(taxable):
            return None
        tax_total = 0
        tax_rows = []
        for tax in wire.taxes:
            rate = _micro(tax.rate)
            base = _cents(tax.taxable_amount)
            amount = _cents(tax.amount)
            if (
                rate != law.rates_micro[tax.code]
                or base != taxable[tax.code]
                or amount != div_round_half_up(rate * base, 1_000_000)
            ):
                return None
            tax_total += amount
            tax_rows.append(f"{tid}\t{tax.code}\t{tax.rate}\t{tax.taxable_amount}\t{tax.amount}\n")
        if _cents(wire.tax_total) != tax_total:
            return None
        exact = subtotal + tax_total
        total = _cents(wire.total)
        if total != (cash_round(exact) if wire.payment_method == "cash" else exact):
            return None
        if _signed_cents(wire.rounding) != total - exact:
            return None
        fields = (
            tid,
            wire.store_id,
            str(wire.register_id),
            NULL if customer is None else customer,
            wire.payment_method,
            occurred_at,
            occurred_at[:-6],
            occurred_at[:4] + occurred_at[5:7] + occurred_at[8:10],
            wire.subtotal,
            wire.tax_total,
            wire.rounding,
            wire.total,
        )
        items, taxes = "".join(lines), "".join(tax_rows)
        return _receipt(fields, digest, local_date, published_at, items, taxes, source)


def _cents(text: str) -> int:
    # The model's pattern guarantees digits, a point and two decimals.
    return int(text[:-3]) * 100 + int(text[-2:])


def _signed_cents(text: str) -> int:
    return -_cents(text[1:]) if text.startswith("-") else _cents(text)


def _micro(rate: str) -> int:
    return int(rate[2:].ljust(6, "0"))


def _timestamp(at: datetime | None) -> str:
    return NULL if at is None else at.isoformat()


def rows_of(
    tx: ValidTransaction, digest: bytes, published_at: datetime | None, source: Any = None
) -> CheckedReceipt:
    """The COPY rows of a transaction the reference checker accepted."""
    tid = str(tx.transaction_id)
    local_time = tx.occurred_at.replace(tzinfo=None).isoformat()
    fields = (
        tid,
        _text(tx.store_id),
        str(tx.register_id),
        NULL if tx.customer_id is None else _text(tx.customer_id),
        _text(tx.payment_method),
        tx.occurred_at.isoformat(),
        local_time,
        tx.local_date.strftime("%Y%m%d"),
        f"{tx.subtotal:.2f}",
        f"{tx.tax_total:.2f}",
        f"{tx.rounding:.2f}",
        f"{tx.total:.2f}",
    )
    where = f"\t{_text(tx.store_id)}\t{tx.local_date.isoformat()}\n"
    items = "".join(
        f"{tid}\t{i.line_no}\t{_text(i.sku)}\t{i.quantity:.3f}\t{i.unit_price:.2f}\t{i.discount:.2f}\t"
        f"{i.line_total:.2f}\t{{{','.join(i.taxes)}}}{where}"
        for i in tx.items
    )
    taxes = "".join(f"{tid}\t{t.code}\t{t.rate}\t{t.taxable_amount}\t{t.amount}\n" for t in tx.taxes)
    return _receipt(fields, digest, tx.local_date, published_at, items, taxes, source)


def _receipt(
    fields: tuple[str, ...],
    digest: bytes,
    day: date,
    published_at: datetime | None,
    items: str,
    taxes: str,
    source: Any,
) -> CheckedReceipt:
    """The receipt, its transaction row ending in the currency, broker stamp and digest."""
    row = "\t".join((*fields, "CAD", _timestamp(published_at), "\\\\x" + digest.hex()))
    key = day.year * 10000 + day.month * 100 + day.day
    return CheckedReceipt(fields[0], digest, key, published_at, row + "\n", items, taxes, source)


def _text(value: str) -> str:
    """A value in COPY text format (the reference path may carry any characters)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
