"""Checking a restock event (topic ``PointOfSale.inventory``, contract v1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

import fastjsonschema

from pos_pipeline.contract.validate import (
    KnownEntities,
    Rejection,
    check_store,
    check_structure,
    parse_occurred_at,
)

RESTOCK_SCHEMA_FILE = "restock.v1.schema.json"


def restock_schema_text() -> str:
    """The JSON Schema of restock events, as shipped."""
    return resources.files("pos_pipeline.contract").joinpath(RESTOCK_SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def _validator() -> Any:
    return fastjsonschema.compile(json.loads(restock_schema_text()))


@dataclass(frozen=True, slots=True)
class ValidRestock:
    """A checked delivery: which store received how much of which SKUs, and when."""

    event_id: UUID
    store_id: str
    occurred_at: datetime
    lines: tuple[tuple[str, Decimal], ...]


def check_restock(doc: dict[str, Any], known: KnownEntities) -> ValidRestock:
    """Check a decoded restock event's structure and references."""
    check_structure(doc, _validator())
    check_store(doc, known)
    store_id = doc["store_id"]
    lines = []
    seen: set[str] = set()
    for line in doc["lines"]:
        sku, quantity = line["sku"], Decimal(line["quantity"])
        product = known.products.get(sku)
        if product is None:
            raise Rejection("unknown_sku", f"SKU {sku!r} is not in the warehouse")
        if quantity <= 0:
            raise Rejection("arithmetic", f"SKU {sku}: quantity {quantity} is not positive")
        if product[1] == "each" and quantity != quantity.to_integral_value():
            raise Rejection("arithmetic", f"SKU {sku} is sold each, not by weight ({quantity})")
        if sku in seen:
            raise Rejection("schema_violation", f"SKU {sku} appears twice in one delivery")
        seen.add(sku)
        lines.append((sku, quantity))
    return ValidRestock(UUID(doc["event_id"]), store_id, parse_occurred_at(doc), tuple(lines))
