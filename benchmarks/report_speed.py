"""How fast every ``pos report`` answers over a large warehouse.

    python benchmarks/report_speed.py --dsn postgresql://postgres@127.0.0.1:5432/postgres [--count 2000000]

Builds (once; ``--rebuild`` to redo) a warehouse database ``pos_bench_reports`` on the server of
``--dsn``: ``--count`` simulated checkouts of the whole chain at scale 1 from 2025-03-03, loaded
through the loader's own checks and write path (``--workers`` processes, each a share of the
stores). Then runs every report on the whole warehouse and on one week, three times each, and
prints a Markdown table of the first (cold) and best times, with the rows returned, and how
long ``pos check``'s recomputation of the analytics from the facts takes.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from pos_pipeline.analytics.reports import REPORTS, Period, Selection, narrowed, run_report
from pos_pipeline.warehouse.jsonl_load import load_jsonl
from pos_pipeline.warehouse.reconcile import check_invariants
from pos_pipeline.warehouse.setup import init_warehouse

DATABASE = "pos_bench_reports"
START = "2025-03-03"
WEEK = Selection(start=date(2025, 3, 10), end=date(2025, 3, 16))


def log(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def database_url(dsn: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{DATABASE}"))


def loaded(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM transactions").fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def _load(args: tuple[str, str, str | None]) -> int:
    url, receipts, restocks = args
    return load_jsonl(url, Path(receipts), Path(restocks) if restocks else None)


def build(dsn: str, count: int, workers: int) -> None:
    url = database_url(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    init_warehouse(url)
    with tempfile.TemporaryDirectory() as tmp:
        receipts, restocks = Path(tmp, "receipts.jsonl"), Path(tmp, "restocks.jsonl")
        log(f"simulating {count:,} checkouts")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pos_pipeline",
                "simulate",
                "--start",
                START,
                "--count",
                str(count),
                "--output",
                "jsonl",
                "--file",
                str(receipts),
                "--inventory-file",
                str(restocks),
            ],
            check=True,
        )
        # Each worker takes whole stores, so workers never update the same inventory rows.
        with contextlib.ExitStack() as files, receipts.open("rb") as lines:
            shares = [files.enter_context(Path(tmp, f"share{n}.jsonl").open("wb")) for n in range(workers)]
            for line in lines:
                at = line.index(b'"store_id":"S') + 13
                shares[int(line[at : line.index(b'"', at)]) % workers].write(line)
        log(f"loading with {workers} processes")
        started = time.perf_counter()
        jobs = [(url, share.name, str(restocks) if n == 0 else None) for n, share in enumerate(shares)]
        with multiprocessing.Pool(workers) as pool:
            total = sum(pool.map(_load, jobs))
        log(f"loaded {total:,} in {time.perf_counter() - started:.0f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def screenshot(url: str, png: Path) -> None:
    """The HTML report of two weeks in headless Chromium (Debian's), as docs/ shows it."""
    from playwright.sync_api import sync_playwright

    from pos_pipeline.analytics.html import render_html

    selection = Selection(date(2025, 3, 8), date(2025, 3, 21))
    with psycopg.connect(url) as conn:
        reports = {}
        for name, spec in REPORTS.items():
            reports[name] = run_report(conn, name, narrowed(spec, selection))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        page_file = Path(tmp, "report.html")
        page_file.write_text(render_html(reports))
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_file.as_uri())
        page.wait_for_timeout(1500)
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    log(f"screenshot: {png}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", required=True, help="a server's admin URL (a database is created there)")
    parser.add_argument("--count", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--screenshot",
        type=Path,
        help="also render `pos report all --format html` "
        "for 2025-03-08..21 and save a full-page Chromium screenshot here (PNG)",
    )
    args = parser.parse_args()
    url = database_url(args.dsn)
    if args.rebuild or loaded(url) < args.count:
        build(args.dsn, args.count, args.workers)
    transactions = loaded(url)
    if args.screenshot:
        screenshot(url, args.screenshot)
    with psycopg.connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        print(
            f"{transactions:,} transactions; PostgreSQL {server[0] if server else '?'}; "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n"
        )
        print("| report | selection | rows | first (ms) | best of 3 (ms) |")
        print("|---|---|---:|---:|---:|")
        for name in REPORTS:
            for label, selection in (("everything", Selection()), ("2025-03-10..16, by day", WEEK)):
                if not REPORTS[name].dated and selection.start is not None:
                    continue
                if REPORTS[name].default_by is None:
                    selection = Selection(selection.start, selection.end)
                else:
                    selection = Selection(selection.start, selection.end, by=selection.by or Period.day)
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    report = run_report(conn, name, selection)
                    conn.rollback()
                    times.append((time.perf_counter() - started) * 1000)
                print(f"| {name} | {label} | {len(report.rows):,} | {times[0]:.0f} | {min(times):.0f} |")
        started = time.perf_counter()
        violations = sum(check_invariants(conn).values())
        print(
            f"\npos check's invariants and recomputation of every rollup from the facts: "
            f"{time.perf_counter() - started:.1f} s, {violations} violating rows"
        )


if __name__ == "__main__":
    main()
