"""Schema migrations with Alembic, shipped inside the package."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pos_pipeline.config import mask_url
from pos_pipeline.errors import DatabaseError
from pos_pipeline.warehouse.db import make_engine, translated_errors


def _config() -> Config:
    cfg = Config()
    location = resources.files("pos_pipeline.warehouse").joinpath("migrations")
    cfg.set_main_option("script_location", str(location))
    return cfg


def _migrate(libpq_url: str, step: Callable[[Config], None]) -> None:
    engine = make_engine(libpq_url)
    try:
        with translated_errors(libpq_url, "migration"), engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            step(cfg)
    finally:
        engine.dispose()


def upgrade(libpq_url: str, revision: str = "head") -> None:
    """Migrate the warehouse schema to ``revision`` (default: the newest)."""
    _migrate(libpq_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(libpq_url: str, revision: str) -> None:
    """Migrate the warehouse schema back to ``revision`` (what it drops is lost)."""
    _migrate(libpq_url, lambda cfg: command.downgrade(cfg, revision))


def current_revision(libpq_url: str) -> str | None:
    """The revision the warehouse is at, or None for an empty database."""
    engine = make_engine(libpq_url)
    try:
        with translated_errors(libpq_url, "reading the schema revision"), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this version of the package."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def require_current_schema(libpq_url: str) -> None:
    """Raise DatabaseError unless the warehouse is migrated to this package's newest revision."""
    current, head = current_revision(libpq_url), head_revision()
    if current != head:
        state = "has no warehouse schema" if current is None else f"is at schema revision {current}"
        raise DatabaseError(f"{mask_url(libpq_url)} {state}, not {head}: run `pos db init`")
