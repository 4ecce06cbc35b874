"""``pos demo`` end to end on the embedded defaults, in its own POS_HOME, and ``pos consume`` signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from pos_cli import loader_env, pos_env, run_pos
from pos_pipeline.config import Settings
from pos_pipeline.services import service_status, start_services, stop_services
from pos_pipeline.warehouse.summary import table_counts


def test_demo_fills_every_table_and_stops_what_it_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_pos(["demo", "--transactions", "2000"], pos_env(home), tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2,000 published, 2,000 loaded" in " ".join(result.stdout.split())
    assert 'psql "$POS_DATABASE_URL"' in result.stdout
    password = (home / "secrets" / "postgres.password").read_text().strip()
    assert password not in result.stdout + result.stderr
    assert "postgres:***@127.0.0.1" in result.stdout

    settings = Settings(home=home, database_url=None, kafka_bootstrap_servers=None)
    assert {s.state for s in service_status(settings)} == {"stopped"}
    endpoints = start_services(settings)  # the warehouse survived in $POS_HOME
    try:
        with psycopg.connect(endpoints.database_url) as conn:
            counts = table_counts(conn)
    finally:
        stop_services(settings)
    assert counts["transactions"] == 2000
    assert all(n > 0 for n in counts.values()), counts


def test_consume_exits_cleanly_on_sigterm(
    tmp_path: Path, warehouse_url: str, bootstrap: str, topic: str
) -> None:
    env = loader_env(tmp_path, warehouse_url, bootstrap, topic)
    assert run_pos(["simulate", "--start", "2025-05-05", "--count", "300"], env, tmp_path).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", "consume"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        loaded = 0
        while time.monotonic() < deadline and loaded < 300:
            time.sleep(0.5)
            with psycopg.connect(warehouse_url) as conn:
                row = conn.execute("SELECT count(*) FROM transactions").fetchone()
                loaded = int(row[0]) if row else 0
        assert loaded == 300
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "consumed 300" in stderr
