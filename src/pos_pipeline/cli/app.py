"""The ``pos`` command line as Typer builds it (``main`` runs it; see there for the fast path)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from pos_pipeline import __version__
from pos_pipeline.cli.common import console, setup_logging, state

if TYPE_CHECKING:
    from typer._click import Command, Context

# Each command's module, imported only when that command runs (or help lists them): importing all
# of them costs over a second (SQLAlchemy, Kafka, the web stack), which `pos simulate` does not need.
_COMMANDS = {
    "simulate": ("simulate_cmd", "simulate"),
    "consume": ("consume_cmd", "consume"),
    "demo": ("demo_cmd", "demo"),
    "check": ("check_cmd", "check"),
    "report": ("report_cmd", "report"),
    "dashboard": ("dashboard_cmd", "dashboard"),
    "up": ("up_cmd", "up"),
    "schema": ("schema_cmd", "schema"),
    "services": ("services_cmd", "app"),
    "db": ("db_cmd", "app"),
}


class _LazyGroup(TyperGroup):
    """The top-level group: builds a command from its module the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(_COMMANDS)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        # A mistyped name is matched against every command (so all are built: slow, but only then).
        for name in args[:1] if args and args[0] in _COMMANDS else _COMMANDS:
            self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, attribute = _COMMANDS[cmd_name]
            target = getattr(importlib.import_module(f"pos_pipeline.cli.{module}"), attribute)
            if isinstance(target, typer.Typer):
                command: Command = typer.main.get_group(target)
                command.name = cmd_name
            else:
                command = typer.main.get_command_from_info(
                    typer.models.CommandInfo(name=cmd_name, callback=target),
                    pretty_exceptions_short=True,
                    rich_markup_mode=self.rich_markup_mode,
                )
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="pos",
    cls=_LazyGroup,
    help="A simulated Canadian grocery chain: point-of-sale events through Kafka into PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"pos-pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show debug logs and tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")] = False,
    _v: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    state.debug = debug
    setup_logging(verbose, debug)
