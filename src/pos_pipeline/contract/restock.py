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

from pos_pipeline.contract.validate import KnownEntities, Rejection

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
    if doc.get("schema_version") != 1 or isinstance(doc.get("schema_version"), bool):
        raise Rejection(
            "unsupported_schema_version", f"schema_version {doc.get('schema_version')!r} is not 1"
        )
    try:
        _validator()(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise Rejection("schema_violation", exc.message[:500]) from None
    store_id = doc["store_id"]
    province = known.stores.get(store_id)
    if province is None:
        raise Rejection("unknown_store", f"store {store_id!r} is not in the warehouse")
    if province != doc["province"]:
        raise Rejection("wrong_province", f"store {store_id} is in {province}, not {doc['province']}")
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
    try:
        occurred_at = datetime.fromisoformat(doc["occurred_at"])
    except ValueError:
        raise Rejection(
            "schema_violation", f"occurred_at {doc['occurred_at']!r} is not a date-time"
        ) from None
    return ValidRestock(UUID(doc["event_id"]), store_id, occurred_at, tuple(lines))
