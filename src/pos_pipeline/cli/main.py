"""Entry point: ``pos`` and ``python -m pos_pipeline``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pos_pipeline import __version__
from pos_pipeline.cli import (
    check_cmd,
    consume_cmd,
    dashboard_cmd,
    db_cmd,
    demo_cmd,
    report_cmd,
    schema_cmd,
    services_cmd,
    simulate_cmd,
    up_cmd,
)
from pos_pipeline.cli.common import console, err_console, setup_logging, state
from pos_pipeline.errors import PosError

app = typer.Typer(
    name="pos",
    help="A simulated Canadian grocery chain: point-of-sale events through Kafka into PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(services_cmd.app, name="services")
app.add_typer(db_cmd.app, name="db")
app.command("simulate")(simulate_cmd.simulate)
app.command("consume")(consume_cmd.consume)
app.command("demo")(demo_cmd.demo)
app.command("check")(check_cmd.check)
app.command("report")(report_cmd.report)
app.command("dashboard")(dashboard_cmd.dashboard)
app.command("up")(up_cmd.up)
app.command("schema")(schema_cmd.schema)


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


def main() -> None:
    """Run the CLI: one line and a non-zero exit for any error, a traceback only with --debug."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `pos`: the message is the help
            err_console.print(exc.format_message(), highlight=False, markup=False)
        else:
            err_console.print(f"error: {exc.format_message()}", highlight=False, markup=False)
        sys.exit(exc.exit_code)
    except PosError as exc:
        if state.debug:
            raise
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
