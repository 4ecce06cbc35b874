"""The rollup tables of the ``analytics`` schema, one row per store-local day and a few keys.

The loader adds each batch's new transactions to them in the batch's own database
transaction (:mod:`pos_pipeline.analytics.rollups`), so they are never behind the facts;
``pos check`` recomputes them from the facts and compares.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from pos_pipeline.warehouse.models import Base

SCHEMA = "analytics"
Sum = Numeric(16, 2)
QuantitySum = Numeric(16, 3)
IN_SCHEMA = {"schema": SCHEMA}


class StoreDay(Base):
    """A store's trading day."""

    __tablename__ = "rollup_store_day"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer)
    item_lines: Mapped[int] = mapped_column(Integer)
    units: Mapped[Decimal] = mapped_column(QuantitySum)
    sales: Mapped[Decimal] = mapped_column(Sum)
    zero_rated_sales: Mapped[Decimal] = mapped_column(Sum)
    tax_total: Mapped[Decimal] = mapped_column(Sum)
    rounding: Mapped[Decimal] = mapped_column(Sum)
    total: Mapped[Decimal] = mapped_column(Sum)
    member_transactions: Mapped[int] = mapped_column(Integer)
    member_sales: Mapped[Decimal] = mapped_column(Sum)


class StoreDayTax(Base):
    """One tax collected by a store in a day."""

    __tablename__ = "rollup_store_day_tax"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tax_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer)
    taxable_amount: Mapped[Decimal] = mapped_column(Sum)
    tax_amount: Mapped[Decimal] = mapped_column(Sum)


class ProductDay(Base):
    """One SKU's sales in a store in a day."""

    __tablename__ = "rollup_product_day"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    lines: Mapped[int] = mapped_column(Integer)
    units: Mapped[Decimal] = mapped_column(QuantitySum)
    sales: Mapped[Decimal] = mapped_column(Sum)
    discount: Mapped[Decimal] = mapped_column(Sum)
    promo_lines: Mapped[int] = mapped_column(Integer)


class StoreHour(Base):
    """A store's checkouts in one local hour."""

    __tablename__ = "rollup_store_hour"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    local_hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer)
    sales: Mapped[Decimal] = mapped_column(Sum)


class BasketDay(Base):
    """Checkouts of a store-day by basket size: item lines and a $10 band of sales."""

    __tablename__ = "rollup_basket_day"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_lines: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value_band: Mapped[int] = mapped_column(Integer, primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer)
    sales: Mapped[Decimal] = mapped_column(Sum)


class PaymentDay(Base):
    """A store-day's checkouts by payment method."""

    __tablename__ = "rollup_payment_day"
    __table_args__ = IN_SCHEMA
    local_date: Mapped[date] = mapped_column(primary_key=True)
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    payment_method: Mapped[str] = mapped_column(String(16), primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer)
    sales: Mapped[Decimal] = mapped_column(Sum)
    total: Mapped[Decimal] = mapped_column(Sum)


class StockDay(Base):
    """A store's stock of one SKU on a local day it moved: sold, received, and on hand at closing."""

    __tablename__ = "rollup_stock_day"
    __table_args__ = (
        # Stock-out reports read a range of days. BRIN, on a column no update changes: an index on
        # ``closing`` (a partial one included) would make every update of a row a new version
        # with new index entries, and at a live trickle each store-SKU-day row is updated per batch.
        Index(
            "ix_rollup_stock_day_local_date_brin",
            "local_date",
            postgresql_using="brin",
            postgresql_with={"pages_per_range": 16},
        ),
        IN_SCHEMA,
    )
    store_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    local_date: Mapped[date] = mapped_column(primary_key=True)
    sold: Mapped[Decimal] = mapped_column(QuantitySum)
    received: Mapped[Decimal] = mapped_column(QuantitySum)
    closing: Mapped[Decimal] = mapped_column(QuantitySum)
