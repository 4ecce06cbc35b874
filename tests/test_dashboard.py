"""``pos dashboard`` in a real headless Chromium: the page shows the warehouse's count and follows it
without a reload, draws its charts, and asks nothing of any host but this one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import PgServer
from live_helpers import chromium, ports, pos_process, visit, wait_for
from pos_cli import loader_env
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.warehouse.jsonl_load import load_jsonl

SCALE = 0.02


def _load_day(url: str, tmp_path: Path, day: date) -> None:
    """One simulated day of receipts into the warehouse, through the loader's checks."""
    batch = ChainSimulator(f"dashboard:{day}", SCALE).day(day)
    receipts = tmp_path / f"{day}.jsonl"
    receipts.write_bytes(b"".join(v + b"\n" for v in batch.values))
    assert load_jsonl(url, receipts) == len(batch.values) > 0


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM transactions").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def dashboard(
    embedded_server: PgServer, bootstrap: str, topic: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A warehouse with a day of receipts and ``pos dashboard`` serving it; (page URL, database URL)."""
    url = embedded_server.create_database(template=embedded_server.template())
    _load_day(url, tmp_path, date(2025, 5, 5))
    (port,) = ports(1)
    env = loader_env(tmp_path, url, bootstrap, topic)
    try:
        with (
            (tmp_path / "dashboard.log").open("w") as log,
            pos_process(["dashboard", "--port", str(port)], env, tmp_path, log) as process,
        ):
            wait_for(
                "the dashboard to listen",
                lambda: "dashboard: http" in (tmp_path / "dashboard.log").read_text(),
            )
            yield f"http://127.0.0.1:{port}/", url
            assert process.poll() is None
    finally:
        embedded_server.drop_database(url)


def _shown(page: Any) -> int | None:
    value = page.get_attribute("#transactions", "data-value")
    return int(value) if value not in (None, "") else None


def test_the_page_follows_the_warehouse_live_without_reloading(
    dashboard: tuple[str, str], tmp_path: Path
) -> None:
    page_url, database_url = dashboard
    with chromium() as browser:
        seen = visit(browser, page_url)
        page = seen.page
        first = _count(database_url)
        wait_for("the page to show the warehouse's count", lambda: _shown(page) == first, timeout=30)
        assert page.text_content("#transactions").replace(",", "").strip() == str(first)
        page.evaluate("window.notReloaded = true")
        snapshots = page.evaluate("window.posDashboard.snapshots")

        _load_day(database_url, tmp_path, date(2025, 5, 6))
        second = _count(database_url)
        assert second > first
        wait_for("the page to follow the new count", lambda: _shown(page) == second, timeout=30)
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate("window.posDashboard.snapshots") > snapshots
        assert seen.navigations == [page_url]

        assert page.get_attribute("#db-status", "data-ok") == "true"
        assert page.get_attribute("#broker-status", "data-ok") == "true"
        assert page.get_attribute("#conn", "data-state") == "live"
        assert page.text_content("#clock").strip() not in ("", "—")
        for chart in ("#chart-provinces", "#chart-hourly", "#chart-products"):
            # Plotly drew the chart: bars or lines with an area on screen.
            marks = page.eval_on_selector_all(
                f"{chart} .bars path, {chart} g.trace path.js-line",
                "ms => ms.filter(m => { const b = m.getBBox(); return b.width > 0 && b.height > 0; }).length",
            )
            assert marks > 0, chart
        receipts = page.eval_on_selector_all("#ticker [data-id]", "rows => rows.map(r => r.dataset.id)")
        with psycopg.connect(database_url) as conn:
            latest = conn.execute(
                "SELECT transaction_id::text FROM transactions ORDER BY occurred_at DESC LIMIT 1"
            ).fetchone()
        assert latest is not None and receipts and receipts[0] == latest[0]
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert seen.outside == []
        assert seen.errors == []
