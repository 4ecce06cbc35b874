"""``pos up`` end to end in its own POS_HOME: it comes up, data flows to the dashboard, a database outage
shows as disconnected and heals, SIGINT leaves nothing behind, and a SIGKILLed run is cleared by the next."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from live_helpers import chromium, ports, visit, wait_for
from pos_cli import pos_env, run_pos
from pos_pipeline.config import Settings
from pos_pipeline.services import postgres, stop_services
from pos_pipeline.services.ports import port_open
from pos_pipeline.services.state import pid_alive, read_state

READY_S = 120


class UpRun:
    """A ``pos up`` process and what it printed so far."""

    def __init__(self, home: Path, cwd: Path, dashboard: int, metrics: int) -> None:
        self.home, self.dashboard, self.metrics = home, dashboard, metrics
        args = ["up", "--port", str(dashboard), "--metrics-port", str(metrics)]
        args += ["--history-days", "1", "--scale", "0.02", "--speed", "600"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pos_pipeline", *args],
            env=pos_env(home),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        """Everything printed so far."""
        return "".join(self.output)

    def diagnosis(self) -> str:
        """What it printed and the end of each part's log, for a failure message."""
        logs = sorted((self.home / "logs").glob("*.log"))
        tails = {p.name: p.read_text(errors="replace").splitlines()[-8:] for p in logs}
        return f"output: {self.text()!r}; logs: {json.dumps(tails, indent=1)}"

    def snapshot(self) -> dict[str, Any]:
        """The dashboard's current snapshot."""
        url = f"http://127.0.0.1:{self.dashboard}/api/snapshot"
        with urllib.request.urlopen(url, timeout=5) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def wait_ready(self) -> None:
        """Until the URL is printed."""
        wait_for(lambda: f"the dashboard URL; {self.diagnosis()}", self._ready, timeout=READY_S)

    def _ready(self) -> bool:
        assert self.process.poll() is None, self.text()
        return f"dashboard: http://127.0.0.1:{self.dashboard}/" in self.text()

    def loaded(self) -> int:
        """Receipts in the warehouse, as the dashboard shows them."""
        return int(self.snapshot()["pipeline"]["transactions"])

    def children(self) -> dict[str, int]:
        """The pids of its parts, from its run record."""
        record = json.loads((self.home / "run" / "up.json").read_text())
        return {str(k): int(v[0]) for k, v in record["children"].items()}


@contextmanager
def up(home: Path, cwd: Path) -> Iterator[UpRun]:
    """A running ``pos up`` on free ports; killed at the end if the test left it running."""
    dashboard, metrics = _ports()
    run = UpRun(home, cwd, dashboard, metrics)
    try:
        yield run
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
            # Its services are detached on purpose: a test that ends early (a skip, a failure)
            # would leave them running on the machine.
            stop_services(Settings(home=home, database_url=None, kafka_bootstrap_servers=None))


def _ports() -> tuple[int, int]:
    while True:
        dashboard, metrics = ports(2)
        if not port_open("127.0.0.1", metrics + 1):
            return dashboard, metrics


def _flows(run: UpRun) -> None:
    """Receipts load, and keep loading, as the dashboard sees them."""
    first = wait_for(lambda: f"receipts; {run.diagnosis()}", run.loaded, timeout=READY_S)
    wait_for(
        lambda: f"more receipts than {first}; {run.diagnosis()}",
        lambda: run.loaded() > first,
        timeout=READY_S,
    )


def _stop_and_check_nothing_left(run: UpRun, sig: int = signal.SIGINT) -> None:
    pids = run.children()
    services = {name: read_state(run.home, name) for name in ("postgres", "broker")}
    run.process.send_signal(sig)
    assert run.process.wait(timeout=120) == 0, run.text()
    assert "stopped:" in run.text()
    for name, pid in pids.items():
        assert not pid_alive(pid), f"the {name} (pid {pid}) still runs"
    for name, state in services.items():
        assert state is not None
        assert not pid_alive(state.pid), f"the embedded {name} still runs"
        assert not port_open("127.0.0.1", state.port), f"the {name}'s port {state.port} still listens"
    for port in (run.dashboard, run.metrics, run.metrics + 1):
        assert not port_open("127.0.0.1", port), f"port {port} still listens"
    assert not (run.home / "run" / "up.json").exists()
    # The children got the password through their environment; none printed or logged it.
    password = (run.home / "secrets" / "postgres.password").read_text().strip()
    assert password not in run.text()
    for log in (run.home / "logs").glob("*.log"):
        assert password not in log.read_text(errors="replace"), log


def test_up_comes_up_survives_a_database_outage_and_stops_clean_on_sigint(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with up(home, tmp_path) as run:
        run.wait_ready()
        _flows(run)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{run.metrics + 1}/metrics", timeout=5).read()
        assert b'pos_consumer_messages_total{outcome="loaded",topic="PointOfSale"}' in metrics
        assert (home / "logs" / "consumer.log").stat().st_size > 0
        again = run_pos(["up"], pos_env(home), tmp_path, timeout=60)
        assert again.returncode == 1
        assert again.stderr.startswith(f"error: pos up is already running (pid {run.process.pid})")

        with chromium() as browser:
            seen = visit(browser, f"http://127.0.0.1:{run.dashboard}/")
            page = seen.page
            wait_for("the page to show the warehouse up", lambda: _page_database(page) == "true", timeout=30)
            postgres.stop(home)  # the warehouse goes away under the dashboard and the consumer
            down = wait_for("the snapshot to say the database is down", lambda: _database(run, ok=False))
            assert down["error"]
            wait_for(
                "the page to show the warehouse down", lambda: _page_database(page) == "false", timeout=30
            )
            assert "disconnected" in page.inner_text("body").lower()
            postgres.ensure_running(home)  # same port: the parts reconnect by themselves
            wait_for("the snapshot to say the database is back", lambda: _database(run, ok=True))
            wait_for(
                "the page to show the warehouse back", lambda: _page_database(page) == "true", timeout=30
            )
            assert seen.navigations == [f"http://127.0.0.1:{run.dashboard}/"]  # no reload
            assert "Traceback" not in page.inner_text("body")
            assert seen.outside == []
        _flows(run)
        _stop_and_check_nothing_left(run)


def _page_database(page: Any) -> str | None:
    value: str | None = page.get_attribute("#db-status", "data-ok")
    return value


def _database(run: UpRun, ok: bool) -> dict[str, Any] | None:
    status: dict[str, Any] = run.snapshot()["status"]["database"]
    return status if status["ok"] is ok else None


def test_after_a_sigkill_the_next_up_clears_the_leftovers_and_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with up(home, tmp_path) as first:
        first.wait_ready()
        wait_for("the simulator's first checkpoint", (home / "state" / "up-simulator.json").exists, 60)
        left = first.children()
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    with up(home, tmp_path) as second:
        second.wait_ready()
        assert not any(pid_alive(pid) for pid in left.values())
        # One simulator backfilled then went live; the next `pos up` resumes its chain, stock and all.
        assert "then live" in first.text()
        assert "simulator: resuming the chain saved in" in second.text(), second.text()
        _flows(second)
        _stop_and_check_nothing_left(second, signal.SIGTERM)
    assert os.path.isdir(home / "pgdata")  # the warehouse stays
