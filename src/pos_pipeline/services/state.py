"""State files under ``$POS_HOME/run`` and checks on the processes they name."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

# The key holding each service's address, as the state files spell it.
ADDRESS_KEYS = {"postgres": "url", "broker": "bootstrap"}


@dataclass(frozen=True)
class ServiceState:
    """What a state file records about one running embedded service."""

    name: str
    pid: int
    port: int
    address: str
    started_at: str


def run_dir(home: Path) -> Path:
    """Return the folder holding the state files."""
    return home / "run"


def state_path(home: Path, name: str) -> Path:
    """Return the state file of service ``name``."""
    return run_dir(home) / f"{name}.json"


def now_iso() -> str:
    """Return the current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_state(home: Path, state: ServiceState) -> None:
    """Write the state file atomically (a reader never sees half a file)."""
    path = state_path(home, state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "pid": state.pid,
        "port": state.port,
        ADDRESS_KEYS[state.name]: state.address,
        "started_at": state.started_at,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{state.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_state(home: Path, name: str) -> ServiceState | None:
    """Return the recorded state of ``name``, or None if there is no usable state file."""
    path = state_path(home, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServiceState(
            name=name,
            pid=int(data["pid"]),
            port=int(data["port"]),
            address=str(data[ADDRESS_KEYS[name]]),
            started_at=str(data.get("started_at", "")),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None


def remove_state(home: Path, name: str) -> None:
    """Delete the state file of ``name`` if there is one."""
    with contextlib.suppress(FileNotFoundError):
        state_path(home, name).unlink()


def _proc_state(pid: int) -> str | None:
    """Return the state letter of ``pid`` from /proc (Z for a zombie), or None if no such pid."""
    if pid <= 0:
        return None
    try:
        stat = Path("/proc", str(pid), "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name in field 2 may hold spaces or parentheses; the state follows the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if no such process runs.

    A pid and its start time name one process for good: a pid reused later has another start.
    """
    if _proc_state(pid) in (None, "Z", "X"):
        return None
    try:
        stat = Path("/proc", str(pid), "stat").read_text(encoding="utf-8", errors="replace")
        return int(stat.rsplit(")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int, *needles: str) -> bool:
    """Return True if ``pid`` runs and its command line contains every one of ``needles``.

    Zombies count as dead: pid 1 in some containers reaps orphans only after a delay.
    """
    if _proc_state(pid) in (None, "Z", "X"):
        return False
    try:
        cmdline = Path("/proc", str(pid), "cmdline").read_bytes()
    except OSError:
        return False
    args = cmdline.replace(b"\0", b" ").decode("utf-8", errors="replace")
    return all(needle in args for needle in needles)


def _reap(pid: int) -> None:
    # Reap it if it is our own child, so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end (or turn zombie); True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def wait_for_reaping(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until no zombie holds ``pid``; True if none does."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if _proc_state(pid) != "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file ('' if it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
