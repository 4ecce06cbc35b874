"""The warehouse schema as SQLAlchemy 2 typed models (migrations are generated from these)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(12, 2)
Quantity = Numeric(14, 3)
Timestamp = TIMESTAMP(timezone=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Store(Base):
    """A store of the chain."""

    __tablename__ = "stores"
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    province: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(7))
    timezone: Mapped[str] = mapped_column(Text)
    latitude: Mapped[Decimal] = mapped_column(Numeric(8, 5))
    longitude: Mapped[Decimal] = mapped_column(Numeric(8, 5))
    floor_area_m2: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time]
    closes: Mapped[time]


class Product(Base):
    """A catalogue item and its tax treatment."""

    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(4))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    tax_class: Mapped[str] = mapped_column(Text)
    popularity: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("unit IN ('each', 'kg')", name="unit"),)


class PaymentOption(Base):
    """A payment method accepted at the till."""

    __tablename__ = "payment_options"
    payment_method: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    settles_to_cent: Mapped[bool]
    description: Mapped[str] = mapped_column(Text)


class TaxRate(Base):
    """A sales tax's rate in a province over ``[effective_from, effective_to)``."""

    __tablename__ = "tax_rates"
    tax_rate_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    province: Mapped[str] = mapped_column(String(2))
    tax_code: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]
    source: Mapped[str] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("province", "tax_code", "effective_from"),)


class Customer(Base):
    """A loyalty member."""

    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    first_name: Mapped[str] = mapped_column(Text)
    last_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    province: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(7))
    home_store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"))
    loyalty_since: Mapped[date]


class DateDim(Base):
    """The date dimension."""

    __tablename__ = "dates"
    date_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    date: Mapped[date] = mapped_column(unique=True)
    day_of_week: Mapped[int] = mapped_column(SmallInteger)
    day_name: Mapped[str] = mapped_column(Text)
    month: Mapped[int] = mapped_column(SmallInteger)
    month_name: Mapped[str] = mapped_column(Text)
    quarter: Mapped[int] = mapped_column(SmallInteger)
    year: Mapped[int] = mapped_column(SmallInteger)
    is_weekend: Mapped[bool]
    holiday_name: Mapped[str | None] = mapped_column(Text)


class Transaction(Base):
    """One checkout."""

    __tablename__ = "transactions"
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # References to stores, customers, payment options and dates are checked by the loader before
    # it writes and proven by ``pos check``, not by per-row triggers (migration 0006).
    store_id: Mapped[str] = mapped_column(String(16))
    register_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[str | None] = mapped_column(String(16))
    payment_method: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    local_time: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=False))
    date_key: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    tax_total: Mapped[Decimal] = mapped_column(Money)
    rounding: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ingested_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.clock_timestamp())
    # SHA-256 of the message as received: tells a harmless replay from a conflicting duplicate.
    content_sha256: Mapped[bytes | None] = mapped_column(LargeBinary)
    __table_args__ = (
        Index("ix_transactions_store_occurred", "store_id", "occurred_at"),
        # The dashboard's "loaded in the last minute": rows arrive in this order, so BRIN is tiny.
        Index(
            "ix_transactions_ingested_at_brin",
            "ingested_at",
            postgresql_using="brin",
            postgresql_with={"pages_per_range": 32, "autosummarize": "on"},
        ),
    )


class ItemPurchased(Base):
    """One line of a checkout."""

    __tablename__ = "items_purchased"
    # Written with its transaction, SKU checked by the loader; ``pos check`` proves both.
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    line_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sku: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    line_total: Mapped[Decimal] = mapped_column(Money)
    tax_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))


class TransactionTax(Base):
    """One tax charged on a checkout, as the receipt states it."""

    __tablename__ = "transaction_taxes"
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tax_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    taxable_amount: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)


class Inventory(Base):
    """Stock on hand per store and SKU; always the sum of its movements."""

    __tablename__ = "inventory"
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    on_hand: Mapped[Decimal] = mapped_column(Quantity)
    reorder_point: Mapped[Decimal] = mapped_column(Quantity)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.clock_timestamp())


class Restock(Base):
    """A delivery received by a store (one restock event)."""

    __tablename__ = "restocks"
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"))
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ingested_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.clock_timestamp())


class InventoryMovement(Base):
    """Stock coming in: opening balances and deliveries (sales are the item lines themselves).

    The view ``inventory_ledger`` adds the sales, for the whole ledger of each (store, SKU).
    """

    __tablename__ = "inventory_movements"
    movement_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.store_id"))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity_delta: Mapped[Decimal] = mapped_column(Quantity)
    reason: Mapped[str] = mapped_column(String(16))
    restock_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("restocks.event_id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    __table_args__ = (
        CheckConstraint("reason IN ('opening', 'restock')", name="reason"),
        Index("ix_inventory_movements_restock_id", "restock_id"),
        Index("ix_inventory_movements_store_sku", "store_id", "sku"),
    )
