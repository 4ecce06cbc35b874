"""Contract v1 as msgspec structs: JSON bytes to typed values and the structural check in one C pass.

This is the loader's fast path, not the contract: the shipped JSON Schema (``contract/schema.py``)
stays the definition. The model is at least as strict as the schema, so whatever it accepts the
schema accepts too (``tests/test_fast_check.py`` holds the two to that on valid and mutated
messages); whatever it refuses goes to the schema-based check, which gives the canonical
rejection, or accepts a message the model was too strict for.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Money = Annotated[str, msgspec.Meta(pattern=r"^(0|[1-9]\d{0,9})\.\d{2}$")]
SignedMoney = Annotated[str, msgspec.Meta(pattern=r"^-?(0|[1-9]\d{0,9})\.\d{2}$")]
Quantity = Annotated[str, msgspec.Meta(pattern=r"^(0|[1-9]\d{0,6})(\.\d{1,3})?$")]
TaxCode = Literal["GST", "HST", "PST", "QST", "RST"]
Category = Literal[
    "produce",
    "dairy_eggs",
    "bakery",
    "meat_seafood",
    "pantry",
    "frozen",
    "baby_food",
    "snacks",
    "candy",
    "soft_drinks",
    "prepared_food",
    "household",
    "personal_care",
    "pet_supplies",
]
Province = Literal["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"]
PaymentMethod = Literal["cash", "debit", "credit", "mobile_wallet", "gift_card"]


class WireItem(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A basket line as it travels."""

    line_no: Annotated[int, msgspec.Meta(ge=1)]
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    category: Category
    quantity: Quantity
    unit_price: Money
    discount: Money
    line_total: Money
    taxes: Annotated[list[TaxCode], msgspec.Meta(max_length=5)]


class WireTax(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A tax of the receipt as it travels."""

    code: TaxCode
    rate: Annotated[str, msgspec.Meta(pattern=r"^0\.\d{1,6}$")]
    taxable_amount: Money
    amount: Money


class WireReceipt(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A checkout as it travels (contract v1)."""

    schema_version: Literal[1]
    transaction_id: Annotated[
        str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    ]
    occurred_at: Annotated[
        str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$")
    ]
    store_id: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    province: Province
    register_id: Annotated[int, msgspec.Meta(ge=1)]
    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=16)] | None
    payment_method: PaymentMethod
    currency: Literal["CAD"]
    items: Annotated[list[WireItem], msgspec.Meta(min_length=1, max_length=500)]
    subtotal: Money
    taxes: Annotated[list[WireTax], msgspec.Meta(max_length=5)]
    tax_total: Money
    rounding: SignedMoney
    total: Money


_decoder = msgspec.json.Decoder(WireReceipt)


def decode_receipt(value: bytes) -> WireReceipt | None:
    """The message as a :class:`WireReceipt`, or None when it does not fit the model exactly.

    Only plain ASCII without escapes takes this path: Python's ``\\d`` and ``$`` are looser than
    the schema's intent (other scripts' digits, a trailing newline), and such text is not safe
    to copy into the warehouse unchanged.
    """
    if not value.isascii() or b"\\" in value:
        return None
    try:
        return _decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
