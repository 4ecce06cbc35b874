"""``pos up``: the whole pipeline live (services, warehouse, simulator, consumer, dashboard) until
Ctrl-C or SIGTERM, then everything it started is stopped.

Each part runs as its own ``pos`` process, logging to ``$POS_HOME/logs/``: the same commands a user
runs by hand, so what the demo shows is what production runs. The children are told by the kernel
(PR_SET_PDEATHSIG) to stop if ``pos up`` itself is killed, and ``$POS_HOME/run/up.json`` lets the
next ``pos up`` clear whatever a killed one left behind and take over the services it had started.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from rich.console import Console

from pos_pipeline.config import Settings
from pos_pipeline.errors import ConfigError, ServiceError
from pos_pipeline.pipeline import prepare
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.services.ports import port_open
from pos_pipeline.services.state import process_start, run_dir, wait_for_exit
from pos_pipeline.signals import stop_on_signals
from pos_pipeline.simulate.run import HEAD_OFFICE_ZONE
from pos_pipeline.warehouse.db import connection

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1
#: The simulator run `pos up` keeps, apart from the one `pos simulate` keeps by default.
UP_STATE_FILE = "up-simulator.json"


@dataclass(frozen=True, slots=True)
class UpOptions:
    """What ``pos up`` runs: see ``pos up --help``."""

    speed: float = 300.0
    scale: float = 0.05
    history_days: int = 7
    host: str = "127.0.0.1"
    port: int = 8050
    metrics_port: int = 9400
    seed: int = 1
    group: str = "pos-warehouse"

    def validate(self) -> None:
        """Raise ConfigError for values that cannot run."""
        if self.speed <= 0:
            raise ConfigError(f"--speed must be positive, got {self.speed}")
        if self.scale <= 0:
            raise ConfigError(f"--scale must be positive, got {self.scale}")
        if self.history_days < 0:
            raise ConfigError(f"--history-days must be 0 or more, got {self.history_days}")
        for name, port in (("--port", self.port), ("--metrics-port", self.metrics_port)):
            if not 1 <= port < 65535:
                raise ConfigError(f"{name} must be between 1 and 65534, got {port}")


@dataclass
class Child:
    """One ``pos`` process started by ``pos up``."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: Whether its ending by itself is normal, or a failure.
    finishes: bool = False


@dataclass
class RunRecord:
    """``$POS_HOME/run/up.json``: this run's pid, its children, and the services it started."""

    path: Path
    #: (pid, start time) of ``pos up`` and of each part: together they name a process for good.
    process: tuple[int, int | None] = field(default_factory=lambda: (os.getpid(), process_start(os.getpid())))
    children: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)

    def save(self) -> None:
        """Write atomically: a killed run leaves a whole record or none."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"process": self.process, "children": self.children, "services": self.services}
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Forget the run."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _die_with_parent(parent: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _stop_process(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_for_exit(pid, timeout_s):
        log.warning("pid %d ignored SIGTERM for %.0f s: killing it", pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5)


def _take_over(record_path: Path) -> list[str]:
    """Clear what a previous ``pos up`` left (it was killed); return the services it had started."""
    try:
        data = json.loads(record_path.read_text(encoding="utf-8"))
        pid, started = _identity(data["process"])
        children = {str(k): _identity(v) for k, v in dict(data.get("children", {})).items()}
        services = [str(s) for s in data.get("services", [])]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable %s", record_path)
        return []
    if started is not None and process_start(pid) == started:
        raise ServiceError(f"pos up is already running (pid {pid}); stop it first (Ctrl-C or kill {pid})")
    for name, (child, child_started) in children.items():
        if child_started is not None and process_start(child) == child_started:
            log.warning("stopping the %s left by a pos up that was killed (pid %d)", name, child)
            _stop_process(child)
    return services


def _identity(value: object) -> tuple[int, int | None]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"not a [pid, start] pair: {value!r}")
    return int(value[0]), None if value[1] is None else int(value[1])


class Up:
    """Starts the parts, watches them, and stops them in order."""

    def __init__(self, settings: Settings, options: UpOptions, console: Console) -> None:
        options.validate()
        self.settings = settings
        self.options = options
        self.console = console
        self.home = settings.home.expanduser().resolve()
        self.logs = self.home / "logs"
        self.stop = threading.Event()
        self.children: list[Child] = []
        self.record = RunRecord(run_dir(self.home) / "up.json")
        self._env: dict[str, str] = {}

    def run(self) -> int:
        """Run until a signal (exit 0) or a part fails (exit 1)."""
        stop_on_signals(self.stop)
        self.record.services = _take_over(self.record.path)
        self.record.save()
        try:
            self._start()
            if self.stop.is_set():
                return 0
            return self._watch()
        finally:
            self._shutdown()

    def _start(self) -> None:
        settings, options = self.settings, self.options
        endpoints = start_services(settings)
        self.record.services = sorted(set(self.record.services) | set(endpoints.started))
        self.record.save()
        if endpoints.started:
            self._say(f"started the embedded {' and '.join(endpoints.started)}")
        prepare(settings, endpoints, self.console)
        self._env = {
            **os.environ,
            "POS_HOME": str(self.home),
            "POS_DATABASE_URL": endpoints.database_url,
            "POS_KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers,
        }
        metrics = options.metrics_port
        self._spawn("consumer", ["consume", "--group", options.group, "--metrics-port", str(metrics + 1)])
        self._spawn("dashboard", ["dashboard", "--host", options.host, "--port", str(options.port)])
        self._spawn_simulator(endpoints.database_url)
        self._wait_for_dashboard()
        url = f"http://{options.host}:{options.port}/"
        minutes = options.speed / 60
        self._say(
            f"simulator: live, the chain's clock at {options.speed:g}× real time "
            f"({minutes:g} simulated minutes a second), scale {options.scale:g}"
        )
        self._say(
            f"metrics: http://127.0.0.1:{metrics}/metrics (simulator), "
            f"http://127.0.0.1:{metrics + 1}/metrics (consumer)"
        )
        self._say(f"logs: {self.logs}/")
        self._say(f"[bold]dashboard: {url}[/bold]   (Ctrl-C stops everything)")

    def _say(self, text: str) -> None:
        # One line each, even in a log narrower than the URL and its explanation.
        self.console.print(text, highlight=False, soft_wrap=True)

    def _spawn_simulator(self, database_url: str) -> None:
        """One simulator for history and live: it resumes the run it keeps in $POS_HOME/state."""
        options = self.options
        state = self.home / "state" / UP_STATE_FILE
        args = ["simulate", "--state", str(state), "--speed", str(options.speed)]
        args += ["--metrics-port", str(options.metrics_port)]
        if state.exists():
            # At 300× a pause of an hour is 12 simulated days: the clock skips the pause, not replays it.
            self._say(f"simulator: resuming the chain saved in {state} from the present")
            self._spawn("simulator", [*args, "--resume", "--follow", "--no-catch-up"])
            return
        args += ["--scale", str(options.scale), "--seed", str(options.seed)]
        days = options.history_days
        if days:
            with connection(database_url) as conn:
                row = conn.execute("SELECT EXISTS (SELECT 1 FROM transactions)").fetchone()
            if row is not None and row[0]:
                self._say("history: the warehouse already has receipts, none added")
                days = 0
        if days:
            first = datetime.now(HEAD_OFFICE_ZONE).date() - timedelta(days=days)
            self._say(
                f"history: {days} days from {first.isoformat()}, as fast as the loader takes them, then live"
            )
            args += ["--start", first.isoformat(), "--follow"]
        self._spawn("simulator", args)

    def _spawn(self, name: str, args: list[str], finishes: bool = False) -> None:
        if self.stop.is_set():
            return
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        out: IO[bytes]
        with log_path.open("ab") as out:
            out.write(f"--- {datetime.now().isoformat(timespec='seconds')} pos {' '.join(args)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", "pos_pipeline", *args],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches pos up only, which stops the parts in order
                preexec_fn=_die_with_parent(os.getpid()),
            )
        self.children.append(Child(name, process, log_path, finishes))
        self.record.children[name] = (process.pid, process_start(process.pid))
        self.record.save()

    def _wait_for_dashboard(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not port_open(self.options.host, self.options.port):
            self._check_children()
            if time.monotonic() > deadline:
                raise ServiceError(f"the dashboard did not listen within {READY_TIMEOUT_S:.0f} s")
            if self.stop.wait(0.1):
                return

    def _check_children(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is None or (child.finishes and code == 0):
                continue
            tail = child.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise ServiceError(
                f"the {child.name} exited with code {code}: {tail[0] if tail else ''} (log: {child.log_path})"
            )

    def _watch(self) -> int:
        while not self.stop.wait(0.5):
            self._check_children()
        self._say("stopping…")
        return 0

    def _shutdown(self) -> None:
        # Producers first, so the consumer can load what they flushed before it stops.
        order = ("simulator", "consumer", "dashboard")
        for name in order:
            for child in self.children:
                if child.name == name and child.process.poll() is None:
                    _stop_process(child.process.pid)
                    child.process.wait()
        stopped = [c.name for c in self.children]
        if self.record.services:
            stopped += stop_services(self.settings, only=self.record.services)
        self.record.remove()
        if stopped:
            self._say(f"stopped: {', '.join(stopped)}")
