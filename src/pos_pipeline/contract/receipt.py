"""Building a contract-v1 transaction from basket lines, in integer cents.

Each line is ``round_half_up(quantity × unit_price) − discount``; each tax is
charged once on the sum of the lines it applies to, rounded half-up; a cash
total is rounded to five cents and the difference reported as ``rounding``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pos_pipeline.money import cash_round, div_round_half_up, format_cents, format_millis
from pos_pipeline.reference.tax import AppliedTax

RATE_SCALE = 1_000_000  # every rate in force has at most six decimals


@dataclass(frozen=True, slots=True)
class Line:
    """One basket line before pricing: quantity in thousandths of a unit or kilogram."""

    sku: str
    category: str
    quantity_millis: int
    weighed: bool
    unit_price_cents: int
    discount_cents: int = 0

    @property
    def gross_cents(self) -> int:
        """quantity × unit price, rounded half-up to the cent."""
        return div_round_half_up(self.quantity_millis * self.unit_price_cents, 1000)

    @property
    def quantity_text(self) -> str:
        """Wire form of the quantity: "2" for units, "0.754" for kilograms."""
        if self.weighed:
            return format_millis(self.quantity_millis)
        return str(self.quantity_millis // 1000)


def rate_scaled(rate: Decimal) -> int:
    """A tax rate as an integer number of millionths."""
    scaled = rate * RATE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"rate {rate} has more than six decimals")
    return int(scaled)


def build_receipt(
    header: dict[str, Any], lines: list[Line], taxes: tuple[AppliedTax, ...], payment_method: str
) -> dict[str, Any]:
    """Return the full message: ``header`` fields, priced items, taxes and totals."""
    items = []
    taxable: dict[str, int] = {}
    subtotal = 0
    for line_no, line in enumerate(lines, start=1):
        line_total = line.gross_cents - line.discount_cents
        codes = [t.code for t in taxes if line.category in t.categories]
        for code in codes:
            taxable[code] = taxable.get(code, 0) + line_total
        subtotal += line_total
        items.append(
            {
                "line_no": line_no,
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity_text,
                "unit_price": format_cents(line.unit_price_cents),
                "discount": format_cents(line.discount_cents),
                "line_total": format_cents(line_total),
                "taxes": codes,
            }
        )
    tax_entries = []
    tax_total = 0
    for tax in taxes:
        if tax.code not in taxable:
            continue
        amount = div_round_half_up(taxable[tax.code] * rate_scaled(tax.rate), RATE_SCALE)
        tax_total += amount
        tax_entries.append(
            {
                "code": tax.code,
                "rate": str(tax.rate),
                "taxable_amount": format_cents(taxable[tax.code]),
                "amount": format_cents(amount),
            }
        )
    exact = subtotal + tax_total
    total = cash_round(exact) if payment_method == "cash" else exact
    return {
        **header,
        "payment_method": payment_method,
        "currency": "CAD",
        "items": items,
        "subtotal": format_cents(subtotal),
        "taxes": tax_entries,
        "tax_total": format_cents(tax_total),
        "rounding": format_cents(total - exact),
        "total": format_cents(total),
    }
