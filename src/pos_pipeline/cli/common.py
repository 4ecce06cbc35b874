"""What every command shares: the console, settings and logging."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pydantic takes a fifth of a second to import: only commands that read settings pay
    from rich.console import Console

    from pos_pipeline.config import Settings


class _LazyConsole:
    """A Rich console made on first use, standing in for it.

    Importing Rich costs about 0.03 s, before `pos simulate`'s first receipt, which writes nothing
    to a console (with --quiet, or not on a terminal) until its last line.
    """

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_made", None)

    def real(self) -> Console:
        """The console itself (made now if it was not)."""
        made: Console | None = object.__getattribute__(self, "_made")
        if made is None:
            from rich.console import Console

            made = Console(**object.__getattribute__(self, "_options"))
            object.__setattr__(self, "_made", made)
        return made

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.real(), name, value)

    def __enter__(self) -> Console:
        return self.real().__enter__()

    def __exit__(self, *args: Any) -> None:
        self.real().__exit__(*args)


def real_console(console: Console) -> Console:
    """``console`` itself, not its stand-in: for Rich objects that keep a console (Live, handlers)."""
    return console.real() if isinstance(console, _LazyConsole) else console


console = cast("Console", _LazyConsole())
err_console = cast("Console", _LazyConsole(stderr=True))


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

    def home(self) -> Path:
        """``$POS_HOME``: from the settings if they were read, else read alone (without pydantic)."""
        if self.settings is not None:
            return self.settings.home
        from pos_pipeline.home import pos_home

        return pos_home()


state = AppState()


class _RichLogHandler(logging.Handler):
    """Rich's log handler, made (and Rich imported) when the first record is logged."""

    def __init__(self, rich_tracebacks: bool) -> None:
        super().__init__()
        self._rich_tracebacks = rich_tracebacks
        self._handler: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._handler is None:
            from rich.logging import RichHandler

            self._handler = RichHandler(
                console=real_console(err_console), show_path=False, rich_tracebacks=self._rich_tracebacks
            )
            self._handler.setFormatter(self.formatter)
        self._handler.emit(record)


def setup_logging(verbose: bool, debug: bool) -> None:
    """Log to stderr: warnings by default, info with --verbose, everything with --debug."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="%H:%M:%S",
        handlers=[_RichLogHandler(rich_tracebacks=debug)],
    )
    for noisy in ("alembic", "faker", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    logging.getLogger("pos_pipeline.librdkafka").setLevel(
        logging.DEBUG if debug else logging.WARNING if verbose else logging.CRITICAL
    )
