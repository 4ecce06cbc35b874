"""``pos db``: migrations, reference data, dump and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pos_pipeline.cli.common import console, state
from pos_pipeline.services import resolve_database_url
from pos_pipeline.warehouse import dump as dumping
from pos_pipeline.warehouse.migrate import current_revision, head_revision, upgrade
from pos_pipeline.warehouse.setup import init_warehouse

app = typer.Typer(help="Create, migrate, dump and restore the PostgreSQL warehouse.", no_args_is_help=True)


def _url() -> str:
    return resolve_database_url(state.get_settings())


@app.command()
def init() -> None:
    """Migrate to the newest schema and load the reference data (safe to repeat)."""
    written = init_warehouse(_url())
    console.print(f"schema at revision {head_revision()}")
    console.print("reference rows written: " + ", ".join(f"{t} {n}" for t, n in written.items()))


@app.command("upgrade")
def upgrade_cmd(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply schema migrations up to REVISION."""
    url = _url()
    before = current_revision(url)
    upgrade(url, revision)
    console.print(f"schema: {before or 'empty'} → {current_revision(url)}")


@app.command("dump")
def dump_cmd(
    file: Annotated[Path, typer.Argument(help="Output file: .dump for custom format, else SQL.")],
    fmt: Annotated[str, typer.Option("--format", help="auto, plain or custom.")] = "auto",
) -> None:
    """Dump the warehouse with pg_dump."""
    used = dumping.dump(_url(), file, fmt)
    console.print(f"dumped to {file} ({used} format)")


@app.command("restore")
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="A plain-SQL or custom-format dump.")],
) -> None:
    """Restore a dump into an empty database."""
    used = dumping.restore(_url(), file)
    console.print(f"restored {file} ({used} format)")
