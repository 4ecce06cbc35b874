"""Writing reports as Rich tables, CSV and JSON, money as exact two-decimal strings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
from rich.table import Table

from pos_pipeline.analytics.queries import TAX_CODES
from pos_pipeline.analytics.reports import Column, Kind, Report
from pos_pipeline.money import CENT


def _text(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind is Kind.money:
        return str(Decimal(value).quantize(CENT))
    if kind is Kind.flag:
        return "true" if value else "false"
    return str(value)


def _json_value(value: Any, kind: Kind) -> Any:
    if value is None or kind in (Kind.integer, Kind.flag) or kind is Kind.text:
        return value
    if isinstance(value, dict):
        return {code: _text(amount, kind) for code, amount in value.items()}
    return _text(value, kind)


def _flat_columns(report: Report) -> Iterator[tuple[str, Column]]:
    """Header and column, with a ``taxes`` object spread into one column per tax code."""
    for column in report.spec.columns:
        if column.name == "taxes":
            for code in TAX_CODES:
                yield code, column
        else:
            yield column.name, column


def _flat_cells(report: Report, row: dict[str, Any]) -> list[str]:
    cells = []
    for header, column in _flat_columns(report):
        value = row[column.name]
        if column.name == "taxes":
            value = value.get(header, Decimal(0))
        cells.append(_text(value, column.kind))
    return cells


def to_json_rows(report: Report) -> list[dict[str, Any]]:
    """The report as JSON-ready objects: counts as numbers, money and decimals as strings."""
    kinds = {c.name: c.kind for c in report.spec.columns}
    return [{key: _json_value(value, kinds[key]) for key, value in row.items()} for row in report.rows]


def to_json(reports: list[Report]) -> bytes:
    """One report as a JSON array; several as an object of arrays keyed by report name."""
    if len(reports) == 1:
        document: Any = to_json_rows(reports[0])
    else:
        document = {r.spec.name: to_json_rows(r) for r in reports}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def to_csv(report: Report) -> str:
    """The report as CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for header, _ in _flat_columns(report)])
    for row in report.rows:
        writer.writerow(_flat_cells(report, row))
    return out.getvalue()


def to_table(report: Report) -> Table:
    """The report as a Rich table."""
    table = Table(title=f"{report.spec.title} ({len(report.rows):,} rows)", title_justify="left")
    for header, column in _flat_columns(report):
        table.add_column(header, justify="left" if column.kind is Kind.text else "right")
    for row in report.rows:
        table.add_row(*_flat_cells(report, row))
    return table
