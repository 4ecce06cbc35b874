"""Where the loader's time goes, per receipt: the check, and each statement of the write path.

    python benchmarks/loader_profile.py RECEIPTS.jsonl [--server URL] [--batch-size 10000]

No broker and no threads: the receipts (from ``pos simulate --output jsonl``) are checked, then
loaded batch by batch through :class:`BatchLoader` into a fresh warehouse ``bench_profile`` on the
server (default: the machine's PostgreSQL), timing every statement and COPY. Prints Markdown rows:
microseconds per receipt for the check and for each statement, and the loader's receipts a second
with the check and the database work one after the other (the consumer overlaps them).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from pos_pipeline.reference.tax import tax_table
from pos_pipeline.warehouse.checked_receipt import ReceiptChecker
from pos_pipeline.warehouse.db import connect
from pos_pipeline.warehouse.ingest import known_entities, tune_gc_for_loading
from pos_pipeline.warehouse.loader import BatchLoader
from pos_pipeline.warehouse.setup import init_warehouse

spent: collections.Counter[str] = collections.Counter()


def _name(query: Any) -> str:
    return " ".join(str(query).split())[:60]


def _timed_cursor() -> None:
    """Time every execute and COPY of psycopg cursors, by the statement's first words."""
    execute, copy = psycopg.Cursor.execute, psycopg.Cursor.copy

    def timed_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            spent[_name(query)] += time.perf_counter() - began

    @contextlib.contextmanager
    def timed_copy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        began = time.perf_counter()
        with copy(self, query, *args, **kwargs) as cp:
            yield cp
        spent[_name(query)] += time.perf_counter() - began

    psycopg.Cursor.execute = timed_execute  # type: ignore[method-assign]
    psycopg.Cursor.copy = timed_copy  # type: ignore[method-assign,assignment]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("receipts", type=Path)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--as-consumed", action="store_true", help="statements in one round trip, as pos consume sends them"
    )
    args = parser.parse_args()
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS bench_profile WITH (FORCE)")
        admin.execute("CREATE DATABASE bench_profile")
    url = args.server.rsplit("/", 1)[0] + "/bench_profile"
    init_warehouse(url)
    values = args.receipts.read_bytes().splitlines()
    conn = connect(url)
    checker = ReceiptChecker(known_entities(conn), tax_table())
    # One statement at a time, so each can be timed; pos consume sends them in one round trip.
    loader = BatchLoader(conn, one_by_one=not args.as_consumed)
    tune_gc_for_loading()  # as pos consume does
    began = time.perf_counter()
    checked = [checker.check(value, None) for value in values]
    check_s = time.perf_counter() - began
    _timed_cursor()
    began = time.perf_counter()
    for start in range(0, len(checked), args.batch_size):
        loader.load(checked[start : start + args.batch_size])
        committing = time.perf_counter()
        conn.commit()
        spent["COMMIT"] += time.perf_counter() - committing
    load_s = time.perf_counter() - began
    conn.close()
    n = len(values)
    print(f"{n:,} receipts, batches of {args.batch_size:,}, {args.server.split('@')[-1]}\n")
    print("| step | µs per receipt |\n|---|---:|")
    print(f"| check (fast path; {checker.fallbacks} fell back) | {check_s / n * 1e6:.1f} |")
    for statement, seconds in spent.most_common():
        print(f"| `{statement}…` | {seconds / n * 1e6:.1f} |")
    print(f"| **database, all statements** | **{load_s / n * 1e6:.1f}** |")
    print(
        f"\nCheck alone {n / check_s:,.0f} receipts/s; database alone {n / load_s:,.0f} receipts/s; "
        f"one after the other {n / (check_s + load_s):,.0f} receipts/s."
    )


if __name__ == "__main__":
    main()
