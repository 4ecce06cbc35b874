"""``pos report``: each report's query, its columns, and how a selection narrows it.

A report reads the analytics rollups (never the fact tables), so it answers in well under a
second whatever the warehouse's size; ``pos check`` proves the rollups equal the facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import psycopg

from pos_pipeline.analytics import queries
from pos_pipeline.errors import PosError


class ReportError(PosError):
    """A report cannot be made from this selection or this warehouse."""


class Period(StrEnum):
    """How a report groups store-local days."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    all = "all"


# Labels sort as the periods do: 2025-03-17, 2025-W12, 2025-03, 2025-Q1, 2025.
PERIOD_SQL = {
    Period.day: "to_char(r.local_date, 'YYYY-MM-DD')",
    Period.week: """to_char(r.local_date, 'IYYY-"W"IW')""",
    Period.month: "to_char(r.local_date, 'YYYY-MM')",
    Period.quarter: """to_char(r.local_date, 'YYYY-"Q"Q')""",
    Period.year: "to_char(r.local_date, 'YYYY')",
    Period.all: "'all'",
}


class Kind(StrEnum):
    """How a column's values are written: money and other decimals as exact strings."""

    text = "text"
    integer = "integer"
    money = "money"
    decimal = "decimal"
    flag = "flag"


@dataclass(frozen=True, slots=True)
class Column:
    """A report column: its key in JSON and CSV, and its kind."""

    name: str
    kind: Kind = Kind.integer


@dataclass(frozen=True, slots=True)
class Selection:
    """What to report on: store-local dates (inclusive), a province or a store, a grouping."""

    start: date | None = None
    end: date | None = None
    province: str | None = None
    store: str | None = None
    by: Period | None = None


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """A report: its SQL template, columns, order, and which parts of a selection apply."""

    name: str
    title: str
    sql: str
    columns: tuple[Column, ...]
    order_by: str
    default_by: Period | None = None
    dated: bool = True  # False: a report of stock now, which --from cannot narrow
    as_of: bool = False  # its recent sales rate ends at the latest day with sales
    extra: (
        Callable[[psycopg.Cursor[dict[str, Any]], ReportSpec, Selection, list[dict[str, Any]]], None] | None
    ) = None


@dataclass(slots=True)
class Report:
    """A report's rows for one selection."""

    spec: ReportSpec
    selection: Selection
    rows: list[dict[str, Any]] = field(default_factory=list)


def _t(name: str) -> Column:
    return Column(name, Kind.text)


def _m(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, Kind.money) for n in names)


def _d(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, Kind.decimal) for n in names)


def _i(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n) for n in names)


TAX_COLUMNS = tuple(code.lower() for code in queries.TAX_CODES)


def _taxes_object(
    cur: psycopg.Cursor[dict[str, Any]], spec: ReportSpec, selection: Selection, rows: list[dict[str, Any]]
) -> None:
    """Give each tax-return row ``taxes``: every tax code charged in it → the amount collected."""
    where, params = _where(spec, selection)
    cur.execute(
        queries.TAXES_COLLECTED.format(period=PERIOD_SQL[_by(spec, selection)], where=where),
        params,
    )
    collected: dict[tuple[str, str], dict[str, Any]] = {}
    for row in cur.fetchall():
        collected.setdefault((row["period"], row["province"]), {})[row["tax_code"]] = row["amount"]
    for row in rows:
        row["taxes"] = dict(sorted(collected.get((row["period"], row["province"]), {}).items()))
        for code in TAX_COLUMNS:
            del row[code]


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        ReportSpec(
            "sales",
            "Daily store sales",
            queries.SALES,
            (
                _t("period"),
                _t("store_id"),
                _t("store_name"),
                _t("province"),
                *_i("transactions", "item_lines", "units"),
                *_m(
                    "sales",
                    "zero_rated_sales",
                    "taxable_sales",
                    *TAX_COLUMNS,
                    "tax_total",
                    "rounding",
                    "total",
                ),
                *_m("avg_transaction_value"),
                *_d("units_per_transaction"),
                *_m("sales_per_m2"),
                *_d("member_share"),
            ),
            "period, store_id",
            default_by=Period.day,
        ),
        ReportSpec(
            "products",
            "Product sales",
            queries.PRODUCTS,
            (
                _t("period"),
                _t("sku"),
                _t("name"),
                _t("category"),
                _t("unit"),
                *_d("units"),
                *_i("lines"),
                *_m("sales", "discount"),
                *_i("rank_in_category"),
            ),
            "period, category, rank_in_category, sku",
            default_by=Period.day,
        ),
        ReportSpec(
            "traffic",
            "Checkouts by hour of the week (store-local)",
            queries.TRAFFIC,
            (*_i("day_of_week", "hour", "transactions"), *_m("sales")),
            "day_of_week, hour",
        ),
        ReportSpec(
            "baskets",
            "Basket sizes: item lines",
            queries.BASKET_LINES,
            (*_i("item_lines", "transactions"), *_m("sales")),
            "item_lines",
        ),
        ReportSpec(
            "basket-values",
            "Basket sizes: sales before tax, in $10 bands",
            queries.BASKET_VALUES,
            (*_i("value_from", "value_to", "transactions"), *_m("sales")),
            "value_from",
        ),
        ReportSpec(
            "payments",
            "Payment mix",
            queries.PAYMENTS,
            (
                _t("period"),
                _t("province"),
                _t("payment_method"),
                *_i("transactions"),
                *_m("value"),
                *_d("count_share", "value_share"),
            ),
            "period, province, payment_method",
            default_by=Period.month,
        ),
        ReportSpec(
            "promotions",
            "Promotion lift: units a trading day on the flyer against off it",
            queries.PROMOTIONS,
            (
                _t("sku"),
                _t("name"),
                _t("category"),
                *_i("flyer_days"),
                *_d("units_on_flyer"),
                *_m("sales_on_flyer"),
                *_i("off_flyer_days"),
                *_d("units_off_flyer"),
                *_m("sales_off_flyer"),
                *_d("units_per_day_on_flyer", "units_per_day_off_flyer", "lift"),
            ),
            "lift DESC NULLS LAST, sku",
        ),
        ReportSpec(
            "stock",
            "Stock on hand and days of cover",
            queries.STOCK,
            (
                _t("store_id"),
                _t("province"),
                _t("sku"),
                _t("name"),
                _t("category"),
                _t("unit"),
                *_d("on_hand", "units_sold_recently", "units_per_day", "days_of_cover"),
                Column("out_of_stock", Kind.flag),
            ),
            "days_of_cover NULLS LAST, store_id, sku",
            dated=False,
            as_of=True,
        ),
        ReportSpec(
            "out-of-stock",
            "SKUs out of stock now, per store",
            queries.OUT_OF_STOCK,
            (_t("store_id"), _t("store_name"), _t("province"), *_i("skus", "skus_out_of_stock")),
            "store_id",
            dated=False,
        ),
        ReportSpec(
            "stockouts",
            "Stock-out events: a store-day that ended with a SKU sold out",
            queries.STOCKOUTS,
            (_t("period"), _t("store_id"), _t("store_name"), _t("province"), *_i("stockout_events", "skus")),
            "period, store_id",
            default_by=Period.day,
        ),
        ReportSpec(
            "tax",
            "Sales-tax return",
            queries.TAX_RETURN,
            (
                _t("period"),
                _t("province"),
                *_i("transactions"),
                *_m(
                    "sales",
                    "zero_rated_sales",
                    "taxable_sales",
                    "gst_hst_collected",
                    "provincial_tax_collected",
                ),
                *_m("rounding"),
                Column("taxes", Kind.money),
            ),
            "period, province",
            default_by=Period.month,
            extra=_taxes_object,
        ),
    )
}


def _by(spec: ReportSpec, selection: Selection) -> Period:
    return selection.by or spec.default_by or Period.all


def _where(spec: ReportSpec, selection: Selection) -> tuple[str, dict[str, Any]]:
    conditions: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if spec.dated and selection.start is not None:
        conditions.append("r.local_date >= %(start)s")
        params["start"] = selection.start
    if spec.dated and selection.end is not None:
        conditions.append("r.local_date <= %(end)s")
        params["end"] = selection.end
    if selection.province is not None:
        conditions.append("s.province = %(province)s")
        params["province"] = selection.province
    if selection.store is not None:
        conditions.append("r.store_id = %(store)s")
        params["store"] = selection.store
    return " AND ".join(conditions), params


def _sql(spec: ReportSpec, selection: Selection) -> tuple[str, dict[str, Any]]:
    where, params = _where(spec, selection)
    fields: dict[str, str] = {"where": where}
    if "{period}" in spec.sql:
        fields["period"] = PERIOD_SQL[_by(spec, selection)]
    if spec.as_of:
        fields["as_of"] = queries.LATEST_DAY
    return f"SELECT * FROM ({spec.sql.format(**fields)}) report ORDER BY {spec.order_by}", params


def narrowed(spec: ReportSpec, selection: Selection) -> Selection:
    """The parts of ``selection`` that apply to ``spec``: what each report of ``pos report all`` gets."""
    return Selection(
        selection.start if spec.dated else None,
        selection.end if spec.dated else None,
        selection.province,
        selection.store,
        selection.by if spec.default_by is not None else None,
    )


def check_selection(spec: ReportSpec, selection: Selection) -> None:
    """Refuse parts of a selection that do not apply to ``spec``."""
    if selection.by is not None and spec.default_by is None:
        raise ReportError(f"--by does not apply to the {spec.name} report")
    if not spec.dated and selection.start is not None:
        raise ReportError(f"--from does not apply to the {spec.name} report (it shows stock now)")
    if not spec.dated and selection.end is not None:
        raise ReportError(f"--to does not apply to the {spec.name} report (it shows stock now)")


def check_warehouse(conn: psycopg.Connection[Any], selection: Selection) -> None:
    """Refuse an empty warehouse, an unknown province or store, and a store outside the province."""
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM analytics.rollup_store_day)")
        row = cur.fetchone()
        if not row or not row[0]:
            raise ReportError("the warehouse has no transactions yet: load some with `pos consume`")
        if selection.province is not None:
            cur.execute("SELECT 1 FROM stores WHERE province = %s LIMIT 1", (selection.province,))
            if cur.fetchone() is None:
                raise ReportError(f"no store in province {selection.province!r}")
        if selection.store is not None:
            cur.execute("SELECT province FROM stores WHERE store_id = %s", (selection.store,))
            found = cur.fetchone()
            if found is None:
                raise ReportError(f"no store {selection.store!r}")
            if selection.province is not None and found[0] != selection.province:
                raise ReportError(f"store {selection.store} is in {found[0]}, not {selection.province}")


def run_report(conn: psycopg.Connection[Any], name: str, selection: Selection) -> Report:
    """Run report ``name`` for ``selection`` on ``conn`` (in the caller's transaction)."""
    spec = REPORTS[name]
    check_selection(spec, selection)
    sql, params = _sql(spec, selection)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
        if spec.extra is not None:
            spec.extra(cur, spec, selection, rows)
    return Report(spec, selection, rows)
