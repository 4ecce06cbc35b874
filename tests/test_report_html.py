"""The HTML report in a real headless Chromium with the network cut off: every chart draws marks,
the tax return lists every row exactly, and no request leaves the page.

Under CI=true a missing Chromium or Playwright fails the test; elsewhere it skips. The screenshot
in docs/ comes from ``benchmarks/report_speed.py --screenshot``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pos_pipeline.analytics.html import render_html
from pos_pipeline.analytics.reports import REPORTS, Report, Selection, narrowed, run_report
from pos_pipeline.warehouse.jsonl_load import load_jsonl

CHROMIUM = Path("/usr/bin/chromium")
START = date(2025, 3, 20)
CENT = Decimal("0.01")
CHARTS = ("sales", "traffic", "payments", "products", "promotions", "baskets", "stockouts")
TAX_MONEY = ("sales", "zero_rated_sales", "taxable_sales", "gst_hst_collected", "provincial_tax_collected")

# What plotly draws for each trace type: lines and markers, bars, and a heatmap's raster image. A
# mark counts when it has an area, so zero-height bars and a flat line alone do not.
MARKS = "g.trace path.js-line, g.trace path.point, .bars path, .hm image"
DRAWN = f"""() => Array.from(document.querySelectorAll('section.chart')).map(section => {{
    const plot = section.querySelector('.js-plotly-plot');
    const drawn = plot ? Array.from(plot.querySelectorAll('{MARKS}')).filter(m => {{
        const box = m.getBBox(); return box.width > 0 && box.height > 0; }}) : [];
    return {{id: section.id, plot: plot !== null, marks: drawn.length,
        bars: drawn.filter(m => m.matches('.bars path')).length,
        note: section.querySelector('p.note') !== null}};
}})"""
ALL_DRAWN = f"() => {{ const s = ({DRAWN})(); return s.length > 0 && s.every(c => c.plot && c.marks > 0); }}"


def _browser() -> Any:
    """Playwright's sync entry point, or a skip (a failure under CI) saying what to install."""
    fail = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail("Playwright is missing: pip install playwright (or pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    return sync_playwright


def _reports(url: str, tmp_path: Path, days: int, scale: float) -> dict[str, Report]:
    """Simulate ``days`` from START into the warehouse and run every report over them."""
    receipts, restocks = tmp_path / "receipts.jsonl", tmp_path / "restocks.jsonl"
    simulate = ["simulate", "--start", START.isoformat(), "--days", str(days), "--scale", str(scale)]
    simulate += ["--seed", "7", "--output", "jsonl", "--file", str(receipts)]
    simulate += ["--inventory-file", str(restocks)]
    subprocess.run([sys.executable, "-m", "pos_pipeline", *simulate], check=True, capture_output=True)
    assert load_jsonl(url, receipts, restocks) > 0
    end = START + timedelta(days=days - 1)
    reports = {}
    with psycopg.connect(url) as conn:
        conn.read_only = True
        for name, spec in REPORTS.items():
            reports[name] = run_report(conn, name, narrowed(spec, Selection(START, end)))
    return reports


def _open(pages: list[Path], screenshot: Path | None = None) -> list[dict[str, Any]]:
    """Open each page offline in headless Chromium: what it requested, logged, drew and tabled."""
    found = []
    with _browser()() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for page_file in pages:
                found.append(_visit(browser, page_file.as_uri(), screenshot))
        finally:
            browser.close()
    return found


def _visit(browser: Any, url: str, screenshot: Path | None) -> dict[str, Any]:
    requested: list[str] = []
    errors: list[str] = []

    def refuse(route: Any) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            requested.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", refuse)
    # Routing sees http(s) and file requests; recording every request as well misses no scheme.
    page.on("request", lambda r: None if r.url == url else requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    # On a timeout the assertions say which chart did not draw.
    with contextlib.suppress(Exception):
        page.wait_for_function(ALL_DRAWN, timeout=20_000)
    found = {
        "requested": requested,
        "errors": errors,
        "charts": {c["id"]: c for c in page.evaluate(DRAWN)},
        "external": page.evaluate("document.querySelectorAll('script[src], link[href], img, iframe').length"),
        "tax_head": page.locator("#tax-table thead th").all_text_contents(),
        "tax": page.locator("#tax-table tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
        ),
    }
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return found


def _cents(amount: Decimal | int) -> str:
    # The warehouse keeps cents, so quantizing to cents must not change an amount.
    exact = Decimal(amount).quantize(CENT)
    assert exact == amount
    return str(exact)


def _expected_tax(tax: Report, codes: list[str]) -> list[list[str]]:
    return [
        [
            row["period"],
            row["province"],
            *(_cents(row[m]) for m in TAX_MONEY),
            *(_cents(row["taxes"].get(c, 0)) for c in codes),
            _cents(row["rounding"]),
        ]
        for row in tax.rows
    ]


def _write(reports: dict[str, Report], page_file: Path) -> Path:
    document = render_html(reports)
    assert document.count("* plotly.js v") == 1, "plotly.js must be inlined exactly once"
    page_file.write_text(document, encoding="utf-8")
    return page_file


def _check_page(found: dict[str, Any], reports: dict[str, Report]) -> None:
    assert found["requested"] == [], "the page must make no request beyond itself"
    assert found["external"] == 0, "nothing may be loaded from outside the page"
    assert found["errors"] == [], "the page must log no JavaScript error"
    charts = found["charts"]
    assert sorted(charts) == sorted(f"chart-{name}" for name in CHARTS)
    for chart in charts.values():
        assert chart["plot"], f"{chart['id']} has no plotly chart"
        assert chart["marks"] > 0, f"{chart['id']} drew no marks"
    # One bar per top product: the chart draws from the rows it was given.
    assert charts["chart-products"]["bars"] == min(15, len({r["sku"] for r in reports["products"].rows}))
    events = sum(r["stockout_events"] for r in reports["stockouts"].rows)
    assert charts["chart-stockouts"]["note"] == (events == 0), "a note says when there were no stock-outs"
    assert (charts["chart-stockouts"]["bars"] > 0) == (events > 0)

    tax = reports["tax"]
    assert tax.rows, "the simulation must produce a tax return"
    codes = sorted({code for row in tax.rows for code in row["taxes"]})
    assert found["tax_head"] == ["period", "province", *TAX_MONEY, *codes, "rounding"]
    assert found["tax"] == _expected_tax(tax, codes), "one exact row per tax-return row"


def test_report_html_offline_in_chromium(embedded_warehouse_url: str, tmp_path: Path) -> None:
    _browser()
    reports = _reports(embedded_warehouse_url, tmp_path, days=14, scale=0.005)
    # Stock does not shrink with --scale, so a small chain never sells out: a second page gives the
    # stock-out chart events to draw as bars.
    store = {k: reports["sales"].rows[0][k] for k in ("store_id", "store_name", "province")}
    events = {START.isoformat(): 3, (START + timedelta(days=2)).isoformat(): 1}
    rows = [{**store, "period": day, "stockout_events": n, "skus": 1} for day, n in events.items()]
    with_stockouts = {**reports, "stockouts": replace(reports["stockouts"], rows=rows)}
    pages = [_write(reports, tmp_path / "report.html"), _write(with_stockouts, tmp_path / "stockouts.html")]

    found, found_stockouts = _open(pages)

    _check_page(found, reports)
    _check_page(found_stockouts, with_stockouts)
    assert found_stockouts["charts"]["chart-stockouts"]["bars"] == 2
