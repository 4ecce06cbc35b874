"""``pos report``: the chain's questions answered from the analytics layer."""

from __future__ import annotations

import io
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.measure import Measurement

from pos_pipeline.analytics.reports import (
    REPORTS,
    Period,
    Report,
    ReportError,
    Selection,
    check_warehouse,
    narrowed,
    run_report,
)
from pos_pipeline.cli.common import console, state
from pos_pipeline.services import resolve_database_url
from pos_pipeline.warehouse.db import connection, translated_errors
from pos_pipeline.warehouse.migrate import require_current_schema

ALL = "all"


class Format(StrEnum):
    """How to write the report."""

    table = "table"
    csv = "csv"
    json = "json"
    html = "html"


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"{flag} {value!r} is not a date (YYYY-MM-DD)") from None


def _names(name: str) -> list[str]:
    if name == ALL:
        return list(REPORTS)
    if name not in REPORTS:
        raise ReportError(f"no report {name!r}; choose one of: {', '.join([*REPORTS, ALL])}")
    return [name]


def _write(data: str | bytes, output: Path | None) -> None:
    raw = data.encode() if isinstance(data, str) else data
    if output is not None:
        try:
            output.write_bytes(raw)
        except OSError as exc:
            raise ReportError(f"cannot write {output}: {exc.strerror}") from None
        return
    try:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) has had enough; say nothing more, not even at exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def report(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join([*REPORTS, ALL])}.", show_default=False)],
    start: Annotated[str | None, typer.Option("--from", help="First store-local date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last store-local date, inclusive.")] = None,
    province: Annotated[str | None, typer.Option(help="Only this province (AB, BC, …).")] = None,
    store: Annotated[str | None, typer.Option(help="Only this store (S001, …).")] = None,
    by: Annotated[Period | None, typer.Option(help="Group days by day|week|month|quarter|year|all.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv, json or html.")] = Format.table,
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Report on the warehouse: sales, products, traffic, baskets, payments, promotions, stock, tax."""
    names = _names(name)
    selection = Selection(_day(start, "--from"), _day(end, "--to"), province, store, by)
    if selection.start and selection.end and selection.start > selection.end:
        raise ReportError(f"--from {selection.start} is after --to {selection.end}")
    if fmt is Format.csv and len(names) > 1:
        raise ReportError("CSV holds one report: name one, or use --format json or html")
    url = resolve_database_url(state.get_settings())
    require_current_schema(url)
    with translated_errors(url, "the report"), connection(url) as conn:
        # One read-only snapshot: the reports of `all`, and a row and its taxes, agree with each
        # other while a loader commits meanwhile.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        check_warehouse(conn, selection)
        reports = [_run(conn, n, selection, name == ALL) for n in names]
    _emit(reports, fmt, output)


def _run(conn: psycopg.Connection[Any], name: str, selection: Selection, every: bool) -> Report:
    if every:
        # In `all`, each report takes what of the selection applies to it.
        selection = narrowed(REPORTS[name], selection)
    return run_report(conn, name, selection)


def _emit(reports: list[Report], fmt: Format, output: Path | None) -> None:
    from pos_pipeline.analytics import render

    if fmt is Format.json:
        _write(render.to_json(reports), output)
    elif fmt is Format.csv:
        _write(render.to_csv(reports[0]), output)
    elif fmt is Format.html:
        from pos_pipeline.analytics.html import render_html

        _write(render_html({r.spec.name: r for r in reports}), output)
    else:
        text = io.StringIO()
        for r in reports:
            table = render.to_table(r)
            # As wide as the table needs: a cut column would hide figures.
            wide = Measurement.get(console, console.options.update_width(10_000), table).maximum
            terminal = output is None and console.is_terminal
            Console(file=text, width=max(console.width, wide), force_terminal=terminal).print(table)
        _write(text.getvalue(), output)
