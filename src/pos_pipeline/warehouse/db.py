"""Connections to the warehouse, with driver errors translated at this one seam."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import Engine, make_url

from pos_pipeline.config import mask_url
from pos_pipeline.errors import DatabaseError

CONNECT_TIMEOUT_S = 5


def sqlalchemy_url(libpq_url: str) -> sqlalchemy.URL:
    """The SQLAlchemy URL (psycopg 3 driver) for a libpq ``postgresql://`` URL."""
    return make_url(libpq_url).set(drivername="postgresql+psycopg")


def make_engine(libpq_url: str) -> Engine:
    """A SQLAlchemy engine for the warehouse."""
    return sqlalchemy.create_engine(
        sqlalchemy_url(libpq_url), connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(libpq_url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Open a psycopg connection, or raise DatabaseError naming the (masked) URL."""
    try:
        return psycopg.connect(libpq_url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {mask_url(libpq_url)}: {first_line(exc)}"
        ) from exc


@contextmanager
def connection(
    libpq_url: str, *, autocommit: bool = False
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection that is closed afterwards; driver errors become DatabaseError."""
    conn = connect(libpq_url, autocommit=autocommit)
    try:
        with conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"PostgreSQL at {mask_url(libpq_url)} failed: {first_line(exc)}") from exc


@contextmanager
def translated_errors(libpq_url: str, doing: str) -> Iterator[None]:
    """Turn SQLAlchemy and psycopg errors inside the block into one-line DatabaseErrors."""
    try:
        yield
    except sqlalchemy.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {mask_url(libpq_url)}: {first_line(exc.orig or exc)}"
        ) from exc
    except (sqlalchemy.exc.DBAPIError, psycopg.Error) as exc:
        cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig else exc
        raise DatabaseError(f"{doing} failed on {mask_url(libpq_url)}: {first_line(cause)}") from exc
