"""Session-scoped real services: the embedded PostgreSQL and broker, started once, stopped after.

Each pytest-xdist worker has its own embedded services. Warehouse tests run against the embedded
PostgreSQL and, when ``POS_TEST_EXTERNAL_DATABASE_URL`` is set, against that server too. Each test
gets a fresh database cloned from a template that ``init_warehouse`` built once (per worker).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from pos_pipeline.config import Settings
from pos_pipeline.services import Endpoints, start_services, stop_services
from pos_pipeline.warehouse.setup import init_warehouse

EXTERNAL_ENV = "POS_TEST_EXTERNAL_DATABASE_URL"
# One template per pytest-xdist worker: workers share the external server.
TEMPLATE = f"pos_test_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def with_database(url: str, name: str) -> str:
    """The same server URL, pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class PgServer:
    """A PostgreSQL server the tests may create databases on."""

    label: str
    admin_url: str
    template_ready: bool = False

    def create_database(self, template: str | None = None) -> str:
        """A new empty (or template-cloned) database; its URL."""
        name = f"pos_test_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{clause}")
        return with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``."""
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def template(self) -> str:
        """Name of a database holding the migrated schema and the reference data."""
        if not self.template_ready:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {TEMPLATE}")
            init_warehouse(with_database(self.admin_url, TEMPLATE))
            self.template_ready = True
        return TEMPLATE


@pytest.fixture(scope="session")
def pos_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """POS_HOME of the session's embedded services."""
    return tmp_path_factory.mktemp("pos-home")


@pytest.fixture(scope="session")
def services(pos_home: Path) -> Iterator[Endpoints]:
    """The embedded PostgreSQL and broker, for the whole session."""
    settings = Settings(home=pos_home, database_url=None, kafka_bootstrap_servers=None)
    endpoints = start_services(settings)
    try:
        yield endpoints
    finally:
        stop_services(settings)


@pytest.fixture(scope="session")
def bootstrap(services: Endpoints) -> str:
    """The embedded broker's bootstrap address."""
    return services.bootstrap_servers


def _servers() -> list[str]:
    return ["embedded", "external"] if os.environ.get(EXTERNAL_ENV) else ["embedded"]


@pytest.fixture(scope="session")
def embedded_server(services: Endpoints) -> PgServer:
    """The embedded PostgreSQL, administered through its ``postgres`` database."""
    return PgServer("embedded", with_database(services.database_url, "postgres"))


@pytest.fixture(scope="session")
def external_server() -> PgServer:
    """The machine's PostgreSQL named by POS_TEST_EXTERNAL_DATABASE_URL."""
    return PgServer("external", os.environ[EXTERNAL_ENV])


@pytest.fixture(scope="session", params=_servers())
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """Each PostgreSQL under test: the embedded one, and the external one when configured."""
    server: PgServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def warehouse_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh warehouse (schema and reference data), dropped afterwards."""
    url = pg_server.create_database(template=pg_server.template())
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
def embedded_warehouse_url(embedded_server: PgServer) -> Iterator[str]:
    """A fresh warehouse on the embedded server only, for the long crash tests run once."""
    url = embedded_server.create_database(template=embedded_server.template())
    try:
        yield url
    finally:
        embedded_server.drop_database(url)


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh empty database, dropped afterwards."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
def topic() -> str:
    """A topic name of this test's own."""
    return f"PointOfSale.test.{uuid.uuid4().hex[:10]}"
