"""What every command shares: the console, settings and logging."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

if TYPE_CHECKING:  # pydantic takes a fifth of a second to import: only commands that read settings pay
    from pos_pipeline.config import Settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class AppState:
    """Global options, set by the top-level callback."""

    debug: bool = False
    settings: Settings | None = field(default=None)

    def get_settings(self) -> Settings:
        """The settings, read once on first use."""
        if self.settings is None:
            from pos_pipeline.config import load_settings

            self.settings = load_settings()
        return self.settings


state = AppState()


def setup_logging(verbose: bool, debug: bool) -> None:
    """Log to stderr: warnings by default, info with --verbose, everything with --debug."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="%H:%M:%S",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=debug)],
    )
    for noisy in ("alembic", "faker", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    logging.getLogger("pos_pipeline.librdkafka").setLevel(
        logging.DEBUG if debug else logging.WARNING if verbose else logging.CRITICAL
    )


MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve Prometheus metrics on this port (http://HOST:PORT/metrics).", show_default=False
    ),
]
MetricsHost = Annotated[str, typer.Option(help="Address the metrics endpoint binds to.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress line or progress logs.")]
