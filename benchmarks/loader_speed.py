"""Loader throughput against the server's raw COPY ceiling and a seed-style ORM loader.

    python benchmarks/loader_speed.py [--count 200000] [--seed-style-count 3000] [--freshness-seconds 30]

Starts its own embedded PostgreSQL and broker in a temporary directory (stopped at the end),
publishes ``--count`` simulated checkouts, and prints one Markdown table:

- pos-pipeline: ``pos consume`` (a child process) loading the whole backlog; transactions per second
  from its first to its last batch, and its peak RSS;
- COPY ceiling: the same rows pre-encoded as COPY text and copied by the server into an empty
  warehouse (transactions, items_purchased, inventory_movements), no Python in the loop;
- seed-style loader: one SQLAlchemy ORM session and commit per message, as the original project did;
- freshness: at a steady 1,000 transactions per second, p50/p99 of ingested_at − published_at.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import psycopg
from sqlalchemy import update
from sqlalchemy.orm import Session

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, run_simulation
from pos_pipeline.warehouse import models
from pos_pipeline.warehouse.db import make_engine
from pos_pipeline.warehouse.setup import init_warehouse

TOPIC = "PointOfSale"


def log(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def new_warehouse(admin_url: str, template: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def publish(bootstrap: str, topic: str, count: int, start: date) -> list[bytes]:
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    captured: list[bytes] = []

    class Capturing(KafkaSink):
        def write_day(self, batch):  # type: ignore[no-untyped-def]
            captured.extend(batch.values)
            super().write_day(batch)

    run_simulation(
        SimulationOptions(seed=3, count=count, start=start), Capturing(Publisher(bootstrap, {}), topic, None)
    )
    return captured


def pos_environment(url: str, bootstrap: str, topic: str) -> dict[str, str]:
    """This process's environment without POS_* settings, pointed at one database and topic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(
        POS_DATABASE_URL=url,
        POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        POS_TOPIC=topic,
        POS_INVENTORY_TOPIC=f"{topic}.inventory",
        POS_DLQ_TOPIC=f"{topic}.dlq",
    )
    return env


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_consumer(
    url: str, bootstrap: str, topic: str, group: str, extra: list[str]
) -> tuple[float, int, str]:
    """Run ``pos consume`` to the end of the backlog; (seconds of loading, peak RSS KiB, stderr)."""
    env = pos_environment(url, bootstrap, topic)
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", "-v", "consume", "--group", group, "--idle-exit", "3", *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Peak RSS from /proc (VmHWM) while it runs: a child's ru_maxrss would include the memory of
    # this parent that the fork copied before exec.
    peak_kib = 0
    while process.poll() is None:
        peak_kib = max(peak_kib, _vm_hwm_kib(process.pid))
        time.sleep(0.5)
    stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"pos consume failed:\n{stderr}")
    with psycopg.connect(url) as conn:
        first, last = conn.execute(
            "SELECT min(ingested_at), max(ingested_at) FROM transactions"
        ).fetchone() or (None, None)
    seconds = (last - first).total_seconds() if first and last else float("nan")
    return seconds, peak_kib, stderr


def copy_ceiling(url: str, loaded_url: str) -> tuple[float, int]:
    """Seconds for the server to COPY the loaded rows, pre-encoded, into an empty warehouse."""
    tables = {
        "transactions": "transaction_id, store_id, register_id, customer_id, payment_method, occurred_at, "
        "local_time, date_key, subtotal, tax_total, rounding, total, currency, published_at",
        "items_purchased": "transaction_id, line_no, sku, quantity, unit_price, discount, line_total, "
        "tax_codes",
        "inventory_movements": "store_id, sku, quantity_delta, reason, transaction_id, occurred_at",
    }
    encoded: dict[str, bytes] = {}
    with psycopg.connect(loaded_url) as source:
        for table, columns in tables.items():
            where = " WHERE reason = 'sale'" if table == "inventory_movements" else ""
            buffer = io.BytesIO()
            with source.cursor().copy(f"COPY (SELECT {columns} FROM {table}{where}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            encoded[table] = buffer.getvalue()
    rows = encoded["transactions"].count(b"\n")
    with psycopg.connect(url) as target:
        started = time.perf_counter()
        with target.cursor() as cur:
            for table, columns in tables.items():
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(encoded[table])  # one pre-encoded buffer: no Python per row
        target.commit()
        return time.perf_counter() - started, rows


def seed_style(url: str, bodies: list[bytes]) -> float:
    """One ORM session and commit per message; seconds for ``bodies``."""
    engine = make_engine(url)
    started = time.perf_counter()
    for body in bodies:
        doc = orjson.loads(body)
        with Session(engine) as session:
            session.add(
                models.Transaction(
                    transaction_id=doc["transaction_id"],
                    store_id=doc["store_id"],
                    register_id=doc["register_id"],
                    customer_id=doc["customer_id"],
                    payment_method=doc["payment_method"],
                    occurred_at=doc["occurred_at"],
                    local_time=doc["occurred_at"][:23],
                    date_key=int(doc["occurred_at"][:10].replace("-", "")),
                    subtotal=Decimal(doc["subtotal"]),
                    tax_total=Decimal(doc["tax_total"]),
                    rounding=Decimal(doc["rounding"]),
                    total=Decimal(doc["total"]),
                    currency="CAD",
                )
            )
            session.flush()
            for item in doc["items"]:
                session.add(
                    models.ItemPurchased(
                        transaction_id=doc["transaction_id"],
                        line_no=item["line_no"],
                        sku=item["sku"],
                        quantity=Decimal(item["quantity"]),
                        unit_price=Decimal(item["unit_price"]),
                        discount=Decimal(item["discount"]),
                        line_total=Decimal(item["line_total"]),
                        tax_codes=item["taxes"],
                    )
                )
                session.add(
                    models.InventoryMovement(
                        store_id=doc["store_id"],
                        sku=item["sku"],
                        quantity_delta=-Decimal(item["quantity"]),
                        reason="sale",
                        transaction_id=doc["transaction_id"],
                        occurred_at=doc["occurred_at"],
                    )
                )
                session.execute(
                    update(models.Inventory)
                    .where(models.Inventory.store_id == doc["store_id"], models.Inventory.sku == item["sku"])
                    .values(on_hand=models.Inventory.on_hand - Decimal(item["quantity"]))
                )
            session.commit()
    engine.dispose()
    return time.perf_counter() - started


def freshness(url: str, bootstrap: str, seconds: int) -> tuple[float, float, int]:
    """p50 and p99 of ingested_at − published_at (ms) at a steady 1,000 transactions per second."""
    topic = "Freshness"
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    env = pos_environment(url, bootstrap, topic)
    # Idle time counts from the group join; the simulator starts well within it.
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pos_pipeline",
            "consume",
            "--group",
            "fresh",
            "--idle-exit",
            "20",
            "--batch-size",
            "500",
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(6)  # let it join the group first
    count = 1000 * seconds
    subprocess.run(
        [sys.executable, "-m", "pos_pipeline", "simulate", "--rate", "1000", "--count", str(count)],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    consumer.wait(timeout=600)
    with psycopg.connect(url) as conn:
        row = conn.execute("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP
                   (ORDER BY lag), count(*)
            FROM (SELECT extract(epoch FROM ingested_at - published_at) * 1000 AS lag
                  FROM transactions WHERE published_at IS NOT NULL) s""").fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), int(row[2])


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        match = re.search(r"model name\s*:\s*(.+)", info.read())
        if match:
            cpu = match.group(1).strip()
    return f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def main() -> None:
    """Measure and print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--seed-style-count", type=int, default=3_000)
    parser.add_argument("--freshness-seconds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pos-bench-") as home:
        settings = Settings(home=Path(home), database_url=None, kafka_bootstrap_servers=None)
        endpoints = start_services(settings)
        try:
            admin = endpoints.database_url.rsplit("/", 1)[0] + "/postgres"
            init_warehouse(endpoints.database_url)
            log(f"publishing {args.count:,} checkouts")
            bodies = publish(endpoints.bootstrap_servers, TOPIC, args.count, date(2025, 5, 6))
            loaded_url = new_warehouse(admin, "pos", "bench_loader")
            log("pos consume over the backlog")
            seconds, rss_kib, _ = run_consumer(loaded_url, endpoints.bootstrap_servers, TOPIC, "bench", [])
            ours = args.count / seconds
            log(f"  {ours:,.0f} tx/s, peak RSS {rss_kib // 1024} MiB")
            log("COPY ceiling")
            copy_seconds, rows = copy_ceiling(new_warehouse(admin, "pos", "bench_copy"), loaded_url)
            ceiling = rows / copy_seconds
            log(f"  {ceiling:,.0f} tx/s")
            log(f"seed-style loader over {args.seed_style_count:,} messages")
            seed_seconds = seed_style(
                new_warehouse(admin, "pos", "bench_seed"), bodies[: args.seed_style_count]
            )
            seed_rate = args.seed_style_count / seed_seconds
            log(f"  {seed_rate:,.0f} tx/s")
            log(f"freshness at 1,000 tx/s for {args.freshness_seconds} s")
            p50, p99, fresh_rows = freshness(
                new_warehouse(admin, "pos", "bench_fresh"),
                endpoints.bootstrap_servers,
                args.freshness_seconds,
            )
        finally:
            stop_services(settings)
    print(f"Machine: {machine()}\n")
    print("| run | transactions | tx/s | vs COPY ceiling | vs seed-style | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| pos consume (backlog) | {args.count:,} | {ours:,.0f} | {ours / ceiling:.2f} | "
        f"{ours / seed_rate:.1f}× | {rss_kib // 1024} MiB |"
    )
    print(
        f"| raw COPY ceiling (pre-encoded) | {rows:,} | {ceiling:,.0f} | 1.00 | "
        f"{ceiling / seed_rate:.1f}× | |"
    )
    print(
        f"| seed-style ORM, commit per message | {args.seed_style_count:,} | {seed_rate:,.0f} | "
        f"{seed_rate / ceiling:.3f} | 1.0× | |"
    )
    print(
        f"\nFreshness at 1,000 tx/s ({fresh_rows:,} transactions): ingested_at − published_at "
        f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms"
    )


if __name__ == "__main__":
    main()
