"""Effectively-once loading under SIGKILL, a database outage and a consumer dying in a group.

Each test publishes real simulated checkouts, runs real ``pos consume`` processes, breaks them,
and then compares the warehouse with what was published.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import psycopg
import pytest

from pos_cli import loader_env
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.services.state import read_state
from pos_pipeline.simulate.engine import DayBatch
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, run_simulation
from pos_pipeline.warehouse.reconcile import check_invariants
from pos_pipeline.warehouse.setup import init_warehouse


@dataclass
class Published:
    """What went onto the topic: the yardstick for the warehouse."""

    topic: str
    count: int
    money: Decimal
    lines: int


def publish(bootstrap: str, topic: str, count: int) -> Published:
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    totals = {"money": Decimal(0), "lines": 0}

    class Measuring(KafkaSink):
        def write_day(self, batch: DayBatch) -> None:
            for value in batch.values:
                doc = orjson.loads(value)
                totals["money"] += Decimal(doc["total"])
                totals["lines"] += len(doc["items"])
            super().write_day(batch)

    sent = run_simulation(
        SimulationOptions(seed=5, count=count, start=date(2025, 5, 6), scale=1.0),
        Measuring(Publisher(bootstrap, {}), topic, f"{topic}.inventory"),
    )
    return Published(topic, sent, Decimal(totals["money"]), int(totals["lines"]))


def loaded(url: str) -> int:
    with psycopg.connect(url, connect_timeout=2) as conn:
        row = conn.execute("SELECT count(*) FROM transactions").fetchone()
    return int(row[0]) if row else 0


def loaded_or_none(url: str) -> int | None:
    try:
        return loaded(url)
    except psycopg.OperationalError:
        return None


def assert_exact(url: str, published: Published) -> None:
    with psycopg.connect(url) as conn:
        rows, ids, money = (
            conn.execute(
                "SELECT count(*), count(DISTINCT transaction_id), sum(total) FROM transactions"
            ).fetchone()
            or ()
        )
        lines = conn.execute("SELECT count(*) FROM items_purchased").fetchone()
        sales = conn.execute("SELECT count(*) FROM inventory_ledger WHERE reason = 'sale'").fetchone()
        ledger = conn.execute("""
            SELECT count(*) FROM inventory i
            JOIN (SELECT store_id, sku, sum(quantity_delta) AS total FROM inventory_ledger
                  GROUP BY store_id, sku) m USING (store_id, sku)
            WHERE i.on_hand <> m.total""").fetchone()
        violations = {name: n for name, n in check_invariants(conn).items() if n}
    assert (rows, ids, money) == (published.count, published.count, published.money)
    assert lines == (published.lines,) and sales == (published.lines,)
    assert ledger == (0,)
    assert violations == {}, "the analytics rollups and every other invariant must hold after the crashes"


def consumer(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", "consume", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes to kill if a test fails half-way."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigkill_five_times_mid_load_loses_and_doubles_nothing(
    tmp_path: Path,
    embedded_warehouse_url: str,
    bootstrap: str,
    topic: str,
    reaper: list[subprocess.Popen[bytes]],
) -> None:
    published = publish(bootstrap, topic, 60_000)
    env = loader_env(tmp_path, embedded_warehouse_url, bootstrap, topic)
    rng = random.Random(60_000)
    for _ in range(5):
        before = loaded(embedded_warehouse_url)
        process = consumer(env, tmp_path, "--group", "crash", "--batch-size", "1000")
        reaper.append(process)
        wait_for(lambda b=before: loaded(embedded_warehouse_url) > b, 90, "the consumer to load something")
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside a batch, or between two
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert loaded(embedded_warehouse_url) < published.count, "the kills must happen mid-load"
    final = consumer(env, tmp_path, "--group", "crash", "--idle-exit", "3")
    reaper.append(final)
    assert final.wait(timeout=300) == 0
    assert_exact(embedded_warehouse_url, published)


def test_database_outage_is_ridden_out(
    tmp_path: Path, bootstrap: str, topic: str, reaper: list[subprocess.Popen[bytes]]
) -> None:
    settings = Settings(home=tmp_path / "outage", database_url=None, kafka_bootstrap_servers=bootstrap)
    url = start_services(settings).database_url  # a PostgreSQL of this test's own, to stop
    try:
        init_warehouse(url)
        published = publish(bootstrap, topic, 20_000)
        env = loader_env(tmp_path, url, bootstrap, topic)
        process = consumer(env, tmp_path, "--group", "outage", "--idle-exit", "5", "--batch-size", "500")
        reaper.append(process)
        wait_for(lambda: loaded(url) > 0, 90, "the first batch")
        stop_services(settings, only=["postgres"])
        time.sleep(10)
        assert process.poll() is None, "the consumer must wait for the database, not exit"
        assert start_services(settings).database_url == url
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert b"database unavailable" in stderr
        assert_exact(url, published)
    finally:
        stop_services(settings)


def test_two_consumers_in_a_group_one_killed(
    tmp_path: Path,
    embedded_warehouse_url: str,
    bootstrap: str,
    topic: str,
    reaper: list[subprocess.Popen[bytes]],
) -> None:
    published = publish(bootstrap, topic, 20_000)
    env = loader_env(tmp_path, embedded_warehouse_url, bootstrap, topic)
    survivor = consumer(env, tmp_path, "--group", "pair", "--idle-exit", "8", "--batch-size", "500")
    victim = consumer(env, tmp_path, "--group", "pair", "--batch-size", "500")
    reaper += [survivor, victim]
    wait_for(lambda: loaded(embedded_warehouse_url) > 2_000, 90, "both consumers to load")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert survivor.wait(timeout=300) == 0
    assert_exact(embedded_warehouse_url, published)


def test_broker_stall_and_rebalance_are_ridden_out(
    tmp_path: Path,
    embedded_warehouse_url: str,
    bootstrap: str,
    topic: str,
    pos_home: Path,
    reaper: list[subprocess.Popen[bytes]],
) -> None:
    published = publish(bootstrap, topic, 20_000)
    env = loader_env(tmp_path, embedded_warehouse_url, bootstrap, topic)
    process = consumer(env, tmp_path, "--group", "stall", "--idle-exit", "8", "--batch-size", "500")
    reaper.append(process)
    wait_for(lambda: loaded(embedded_warehouse_url) > 0, 90, "the first batch")
    broker = read_state(pos_home, "broker")
    assert broker is not None
    # Frozen longer than the session timeout: connections stall, the group expires the member,
    # and on thawing the consumer reconnects and rejoins (a rebalance).
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        time.sleep(9)
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    assert process.wait(timeout=300) == 0
    assert_exact(embedded_warehouse_url, published)
