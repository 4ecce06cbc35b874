"""The chain's stores, its products and the payment options it accepts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from pos_pipeline.money import cents_of
from pos_pipeline.reference.categories import tax_class
from pos_pipeline.reference.files import read_csv

PAYMENT_METHODS = ("cash", "debit", "credit", "mobile_wallet", "gift_card")


@dataclass(frozen=True, slots=True)
class Store:
    """A store: where it is, its local time zone, its size and its opening hours."""

    store_id: str
    name: str
    address: str
    city: str
    province: str
    postal_code: str
    timezone: str
    latitude: Decimal
    longitude: Decimal
    floor_area_m2: int
    opens: time
    closes: time

    @property
    def zone(self) -> ZoneInfo:
        """The store's IANA time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue item: sold ``each`` or by the ``kg``, priced in cents per unit."""

    sku: str
    name: str
    category: str
    unit: str
    unit_price: Decimal
    popularity: int

    @property
    def price_cents(self) -> int:
        """Unit price in integer cents."""
        return cents_of(self.unit_price)

    @property
    def tax_class(self) -> str:
        """GST/HST treatment, from the category."""
        return tax_class(self.category)


@dataclass(frozen=True, slots=True)
class PaymentOption:
    """A way to pay at the till."""

    payment_method: str
    name: str
    kind: str
    settles_to_cent: bool
    description: str


@cache
def stores() -> tuple[Store, ...]:
    """Every store of the chain, ordered by store id."""
    rows = read_csv("stores.csv")
    return tuple(
        sorted(
            (
                Store(
                    store_id=r["store_id"],
                    name=r["name"],
                    address=r["address"],
                    city=r["city"],
                    province=r["province"],
                    postal_code=r["postal_code"],
                    timezone=r["timezone"],
                    latitude=Decimal(r["latitude"]),
                    longitude=Decimal(r["longitude"]),
                    floor_area_m2=int(r["floor_area_m2"]),
                    opens=time.fromisoformat(r["opens"]),
                    closes=time.fromisoformat(r["closes"]),
                )
                for r in rows
            ),
            key=lambda s: s.store_id,
        )
    )


@cache
def products() -> tuple[Product, ...]:
    """Every catalogue item, ordered by SKU."""
    rows = read_csv("products.csv")
    return tuple(
        sorted(
            (
                Product(
                    sku=r["sku"],
                    name=r["name"],
                    category=r["category"],
                    unit=r["unit"],
                    unit_price=Decimal(r["unit_price"]),
                    popularity=int(r["popularity"]),
                )
                for r in rows
            ),
            key=lambda p: p.sku,
        )
    )


@cache
def payment_options() -> tuple[PaymentOption, ...]:
    """The payment methods the contract allows, in contract order."""
    by_method = {r["payment_method"]: r for r in read_csv("payment_options.csv")}
    return tuple(
        PaymentOption(
            m,
            by_method[m]["name"],
            by_method[m]["kind"],
            by_method[m]["settles_to_cent"] == "true",
            by_method[m]["description"],
        )
        for m in PAYMENT_METHODS
    )


@cache
def stores_by_id() -> dict[str, Store]:
    """Stores keyed by store id."""
    return {s.store_id: s for s in stores()}


@cache
def products_by_sku() -> dict[str, Product]:
    """Products keyed by SKU."""
    return {p.sku: p for p in products()}
