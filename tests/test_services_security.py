"""The embedded services are locked: PostgreSQL wants its generated password, nothing listens beyond loopback.

Real servers throughout: the session's (``services``), and for the migration tests a cluster made
the way the previous version made them (initdb with trust, no password file).
"""

from __future__ import annotations

import inspect
import os
import shlex
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from pos_cli import pos_env, run_pos
from pos_pipeline.cli.dashboard_cmd import dashboard
from pos_pipeline.config import Settings
from pos_pipeline.errors import ServiceError
from pos_pipeline.metrics.exposition import serve
from pos_pipeline.services import Endpoints, postgres, service_status, start_services, stop_services
from pos_pipeline.services.credentials import read_password, write_private
from pos_pipeline.services.ports import stable_port
from pos_pipeline.services.state import ServiceState, now_iso, read_state, write_state
from pos_pipeline.up import UpOptions
from pos_pipeline.web.serve import bind

# A path libpq cannot open, so no ~/.pgpass supplies a password behind the test's back.
NO_PASSFILE = postgres.NO_PASSFILE


@pytest.fixture(autouse=True)
def _no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)


def password_of(home: Path) -> str:
    text = (home / "secrets" / "postgres.password").read_text(encoding="utf-8")
    return text.strip()


def password_of_url(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def with_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{auth}:{password}@{host}" if password else f"{auth}@{host}"))


def refusal(url: str) -> str:
    """The error a connection to ``url`` gets, or '' if it gets in."""
    try:
        psycopg.connect(url, passfile=NO_PASSFILE, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return ""


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():  # no IPv6 on this machine
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(_ip(address))
    return found


def _ip(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i : i + 4][::-1].hex() for i in range(0, 16, 4)]
    return ":".join(w[j : j + 4] for w in words for j in (0, 4))


def test_the_password_file_is_private_and_matches_the_url(pos_home: Path, services: Endpoints) -> None:
    path = pos_home / "secrets" / "postgres.password"
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    password = password_of(pos_home)
    assert len(password) >= 40
    assert unquote(urlsplit(services.database_url).password or "") == password
    assert password not in repr(services)


def test_no_password_and_a_wrong_one_are_refused(services: Endpoints) -> None:
    url = services.database_url
    assert "no password supplied" in refusal(with_password(url, None))
    assert "password authentication failed" in refusal(with_password(url, "wrong"))
    assert "password authentication failed" in refusal(with_password(url, password_of_url(url) + "x"))
    assert refusal(url) == ""
    with psycopg.connect(url) as conn:
        rules = conn.execute("SELECT type, auth_method FROM pg_hba_file_rules").fetchall()
        encryption = conn.execute("SHOW password_encryption").fetchone()
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'").fetchone()
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert {kind for kind, _ in rules} == {"local", "host"}
    assert {method for _, method in rules} == {"scram-sha-256"}
    assert encryption == ("scram-sha-256",)
    assert stored is not None and str(stored[0]).startswith("SCRAM-SHA-256$4096:")
    # No unix socket to try: the server listens on 127.0.0.1 only (its `local` lines want scram too).
    assert sockets == ("",)


def test_only_loopback_listens(services: Endpoints) -> None:
    pg_port = urlsplit(services.database_url).port
    broker_port = int(services.bootstrap_servers.rsplit(":", 1)[1])
    assert pg_port is not None
    assert listening_addresses(pg_port) == {"127.0.0.1"}
    assert listening_addresses(broker_port) == {"127.0.0.1"}
    with psycopg.connect(services.database_url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)

    # `pos dashboard` and `pos up` without --host; their consumer and simulator get no --metrics-host.
    assert inspect.signature(dashboard).parameters["host"].default == UpOptions().host
    sock = bind(UpOptions().host, 0)
    try:
        assert listening_addresses(sock.getsockname()[1]) == {"127.0.0.1"}
    finally:
        sock.close()
    metrics = serve(CollectorRegistry(), 0)  # --metrics-port without --metrics-host
    try:
        assert listening_addresses(metrics.port) == {"127.0.0.1"}
    finally:
        metrics.close()


def test_only_env_prints_the_password(pos_home: Path, services: Endpoints, tmp_path: Path) -> None:
    password = password_of(pos_home)
    env = pos_env(pos_home)
    for command in (["services", "start"], ["services", "status"]):
        result = run_pos(command, env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
        assert "postgres:***@127.0.0.1" in result.stdout

    exported = run_pos(["services", "env"], env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert password not in exported.stderr
    urls = [
        shlex.split(line.removeprefix("export "))[0].split("=", 1)[1]
        for line in exported.stdout.splitlines()
        if line.startswith("export POS_DATABASE_URL=")
    ]
    assert urls == [services.database_url]
    assert refusal(urls[0]) == ""

    logs = [*(pos_home / "logs").glob("*.log"), pos_home / "pgdata" / "server.log"]
    for log in logs:
        assert password not in log.read_text(encoding="utf-8", errors="replace"), log


def test_password_files_are_never_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "pw"
    old = os.umask(0)  # the most permissive umask cannot widen what mkstemp creates
    try:
        write_private(path, "s3cret\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    assert read_password(path) == "s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tightened on reading
    path.write_text("two words\n")
    with pytest.raises(ServiceError, match="printable ASCII"):
        read_password(path)


# --- a cluster from the previous version: trust authentication, no password file -----------------


@pytest.fixture
def old_home(tmp_path: Path) -> Iterator[Path]:
    """A POS_HOME as the previous version left it running: initdb --auth=trust, a password-less URL."""
    home = tmp_path / "home"
    pgdata = postgres.data_dir(home)
    user = postgres._run_user()
    postgres._prepare_data_dir(pgdata, user)
    postgres._initdb(pgdata, user)  # unchanged: the trust lines last until a start locks them
    port = stable_port(home / "run" / "postgres.port")
    args = [str(postgres.pg_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(pgdata / "server.log")]
    started = postgres._run([*args, "-o", f'-h 127.0.0.1 -p {port} -k ""', "start"], pgdata, user)
    assert started.returncode == 0, started.stderr
    recorded = postgres._postmaster_pid(pgdata)
    assert recorded is not None
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE pos")
    url = f"postgresql://postgres@127.0.0.1:{port}/pos"
    write_state(home, ServiceState("postgres", recorded[0], port, url, now_iso()))
    try:
        yield home
    finally:
        stop_services(Settings(home=home, database_url=None, kafka_bootstrap_servers="unused:1"))


def test_a_trust_cluster_from_the_old_layout_is_locked_running_then_stopped(old_home: Path) -> None:
    # An external broker, so only PostgreSQL is under test.
    settings = Settings(home=old_home, database_url=None, kafka_bootstrap_servers="unused:1")
    state = read_state(old_home, "postgres")
    assert state is not None
    trusted = state.address
    original_hba = (postgres.data_dir(old_home) / "pg_hba.conf").read_text()
    assert refusal(trusted) == ""  # trust: anyone on the machine gets in
    with psycopg.connect(trusted, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('survives')")

    # Running when the new version starts: locked in place, without a restart.
    endpoints = start_services(settings)
    assert endpoints.started == ()
    assert read_state(old_home, "postgres") == state  # the same server
    first = password_of(old_home)
    assert stat.S_IMODE((old_home / "secrets" / "postgres.password").stat().st_mode) == 0o600
    assert "no password supplied" in refusal(trusted)
    assert "password authentication failed" in refusal(with_password(trusted, "wrong"))
    assert password_of_url(endpoints.database_url) == first
    with psycopg.connect(endpoints.database_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("survives",)]

    # Stopped as the old version left it (trust lines, no password file): locked before it listens.
    stop_services(settings)
    (postgres.data_dir(old_home) / "pg_hba.conf").write_text(original_hba)
    (old_home / "secrets" / "postgres.password").unlink()
    endpoints = start_services(settings)
    assert endpoints.started == ("postgres",)
    second = password_of(old_home)
    assert second != first
    assert "no password supplied" in refusal(with_password(endpoints.database_url, None))
    assert "password authentication failed" in refusal(with_password(endpoints.database_url, first))
    with psycopg.connect(endpoints.database_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("survives",)]


def test_deleting_the_password_file_rotates_it_at_the_next_start(old_home: Path) -> None:
    settings = Settings(home=old_home, database_url=None, kafka_bootstrap_servers="unused:1")
    first = start_services(settings).database_url  # locks the old cluster

    (old_home / "secrets" / "postgres.password").unlink()
    # A running server cannot be given a new password without the old one: say what to do.
    with pytest.raises(ServiceError, match=r"postgres.password is missing.*pos services stop"):
        start_services(settings)
    assert {s.name: s.state for s in service_status(settings)}["postgres"] == "running"

    stop_services(settings)
    second = start_services(settings).database_url
    assert password_of_url(second) not in ("", password_of_url(first))
    assert "password authentication failed" in refusal(first)
    assert refusal(second) == ""
