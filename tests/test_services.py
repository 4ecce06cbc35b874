"""The embedded services, with real PostgreSQL and Tansu processes (no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from pos_pipeline.config import Settings
from pos_pipeline.errors import ServiceError
from pos_pipeline.services import (
    Endpoints,
    ServiceStatus,
    env_lines,
    pg_bin_dir,
    resolve_endpoints,
    service_status,
    start_services,
    stop_services,
)
from pos_pipeline.services.state import (
    ServiceState,
    pid_alive,
    read_state,
    wait_for_exit,
    write_state,
)


@pytest.fixture
def external_url(services: Endpoints) -> str:
    """A PostgreSQL these settings did not start: the machine's if configured, else the session's."""
    return os.environ.get("POS_TEST_EXTERNAL_DATABASE_URL") or services.database_url


def make_settings(home: Path, database_url: str | None = None, kafka: str | None = None) -> Settings:
    # Explicit values, so POS_* variables in the environment cannot leak in.
    return Settings(home=home, database_url=database_url, kafka_bootstrap_servers=kafka)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Embedded-only settings whose services are always stopped afterwards."""
    settings = make_settings(tmp_path)
    try:
        yield settings
    finally:
        stop_services(settings)


def select_one(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return int(row[0])


def broker_ids(bootstrap: str) -> list[int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return list(metadata.brokers)


def states(settings: Settings) -> dict[str, str]:
    return {status.name: status.state for status in service_status(settings)}


def test_pg_bin_dir_has_the_client_tools() -> None:
    for tool in ("pg_ctl", "psql", "pg_dump", "pg_restore"):
        assert (pg_bin_dir() / tool).is_file()


def test_start_both_answer_survive_restart_and_stop(settings: Settings) -> None:
    endpoints = start_services(settings)
    assert endpoints.started == ("postgres", "broker")
    assert endpoints.database_url.startswith("postgresql://postgres:")  # the password, then @127.0.0.1
    assert "@127.0.0.1:" in endpoints.database_url
    assert endpoints.database_url.endswith("/pos")
    assert select_one(endpoints.database_url) == 1
    assert broker_ids(endpoints.bootstrap_servers)
    assert states(settings) == {"postgres": "running", "broker": "running"}
    assert resolve_endpoints(settings) == Endpoints(endpoints.database_url, endpoints.bootstrap_servers)
    psql = subprocess.run(
        [str(pg_bin_dir() / "psql"), endpoints.database_url, "-tAc", "SELECT current_database()"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert psql.stdout.strip() == "pos"

    again = start_services(settings)
    assert again == Endpoints(endpoints.database_url, endpoints.bootstrap_servers, ())

    with psycopg.connect(endpoints.database_url) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('survives')")

    assert sorted(stop_services(settings)) == ["broker", "postgres"]
    assert not (settings.home / "run" / "postgres.json").exists()
    assert not (settings.home / "run" / "broker.json").exists()
    assert states(settings) == {"postgres": "stopped", "broker": "stopped"}
    assert stop_services(settings) == []

    restarted = start_services(settings)
    assert restarted.started == ("postgres", "broker")
    with psycopg.connect(restarted.database_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("survives",)]


def test_stale_state_files_are_replaced(settings: Settings) -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    dead_pid = done.pid
    home = settings.home
    write_state(home, ServiceState("postgres", dead_pid, 1, "postgresql://x@127.0.0.1:1/pos", ""))
    # A live pid that is not a broker (this test process) stands for a reused pid.
    write_state(home, ServiceState("broker", os.getpid(), 1, "127.0.0.1:1", ""))
    assert states(settings) == {"postgres": "stopped", "broker": "stopped"}
    with pytest.raises(ServiceError):
        resolve_endpoints(settings)

    endpoints = start_services(settings)
    assert endpoints.started == ("postgres", "broker")
    assert select_one(endpoints.database_url) == 1
    assert broker_ids(endpoints.bootstrap_servers)
    broker_state = read_state(home, "broker")
    assert broker_state is not None and broker_state.pid != os.getpid()


def test_killed_services_are_started_again(settings: Settings) -> None:
    first = start_services(settings)
    pg_state = read_state(settings.home, "postgres")
    broker_state = read_state(settings.home, "broker")
    assert pg_state is not None and broker_state is not None
    os.kill(broker_state.pid, signal.SIGKILL)
    # The postmaster leaves postmaster.pid behind and lingers as a zombie for a while.
    os.kill(pg_state.pid, signal.SIGKILL)
    assert wait_for_exit(broker_state.pid, 5) and wait_for_exit(pg_state.pid, 5)
    assert states(settings) == {"postgres": "stopped", "broker": "stopped"}

    second = start_services(settings)
    assert second.started == ("postgres", "broker")
    # Restarted services keep their addresses, so exported URLs and running clients stay valid.
    assert (second.bootstrap_servers, second.database_url) == (first.bootstrap_servers, first.database_url)
    new_broker = read_state(settings.home, "broker")
    assert new_broker is not None and new_broker.pid != broker_state.pid
    assert select_one(second.database_url) == 1
    assert broker_ids(second.bootstrap_servers)


def test_services_outlive_the_process_that_started_them(settings: Settings) -> None:
    code = (
        "import sys; from pathlib import Path; from pos_pipeline.config import Settings;"
        "from pos_pipeline.services import start_services;"
        "s = Settings(home=Path(sys.argv[1]), database_url=None, kafka_bootstrap_servers=None);"
        "print(start_services(s).started)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(settings.home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "postgres" in child.stdout and "broker" in child.stdout
    endpoints = resolve_endpoints(settings)
    assert select_one(endpoints.database_url) == 1
    assert broker_ids(endpoints.bootstrap_servers)
    assert start_services(settings).started == ()
    assert sorted(stop_services(settings)) == ["broker", "postgres"]


def test_external_database_starts_no_embedded_postgres(tmp_path: Path, external_url: str) -> None:
    settings = make_settings(tmp_path, database_url=external_url)
    try:
        endpoints = start_services(settings)
        assert endpoints.started == ("broker",)
        assert endpoints.database_url == external_url
        assert select_one(endpoints.database_url) == 1
        assert not (tmp_path / "pgdata").exists()
        assert states(settings) == {"postgres": "external", "broker": "running"}
        assert resolve_endpoints(settings).database_url == external_url
    finally:
        assert stop_services(settings) == ["broker"]


def test_all_external_starts_and_stops_nothing(tmp_path: Path) -> None:
    url = "postgresql://app:s3cret@db.example:5432/pos"
    settings = make_settings(tmp_path, database_url=url, kafka="kafka.example:9092")
    endpoints = start_services(settings)
    assert endpoints == Endpoints(url, "kafka.example:9092", ())
    assert resolve_endpoints(settings) == Endpoints(url, "kafka.example:9092")
    assert service_status(settings) == [
        ServiceStatus("postgres", "external", "postgresql://app:***@db.example:5432/pos"),
        ServiceStatus("broker", "external", "kafka.example:9092"),
    ]
    assert stop_services(settings) == []
    assert not (tmp_path / "pgdata").exists()


def test_resolve_endpoints_raises_when_nothing_runs(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"PostgreSQL is not running.*POS_DATABASE_URL"):
        resolve_endpoints(make_settings(tmp_path))
    with pytest.raises(ServiceError, match=r"broker is not running.*POS_KAFKA_BOOTSTRAP_SERVERS"):
        resolve_endpoints(make_settings(tmp_path, database_url="postgresql://u@db.example/pos"))
    assert states(make_settings(tmp_path)) == {"postgres": "stopped", "broker": "stopped"}


def test_env_lines_are_shell_quoted() -> None:
    lines = env_lines(Endpoints("postgresql://u:p w@h/db", "127.0.0.1:9092"))
    assert lines == [
        "export POS_DATABASE_URL='postgresql://u:p w@h/db'",
        "export POS_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092",
    ]


def test_pid_alive_checks_the_command_line() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(os.getpid(), "tansu-that-is-not-here")
    assert not pid_alive(0)
