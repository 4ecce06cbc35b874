"""Entry point: ``pos`` and ``python -m pos_pipeline``.

Typer (and with it Pydantic and Rich) is imported only when needed: ``pos simulate`` with
ordinary flags is parsed without it, for an early first receipt (``cli/simulate_run.py``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from pos_pipeline.cli.common import err_console, setup_logging, state
from pos_pipeline.errors import PosError

if TYPE_CHECKING:
    import typer


def main() -> None:
    """Run the CLI: one line and a non-zero exit for any error, a traceback only with --debug."""
    try:
        fast = _fast_simulate(sys.argv[1:])
        if fast is not None:
            fast()
            sys.exit(0)
        from pos_pipeline.cli.app import app

        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except PosError as exc:
        if state.debug:
            raise
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        # Typer's own errors: only Typer can have raised them, so it is imported by now.
        typer_module = sys.modules.get("typer")
        if typer_module is None:
            raise
        if isinstance(exc, typer_module.Abort):
            err_console.print("aborted")
            sys.exit(130)
        if isinstance(exc, typer_module.TyperException):
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `pos`: the message is the help
                err_console.print(exc.format_message(), highlight=False, markup=False)
            else:
                err_console.print(f"error: {exc.format_message()}", highlight=False, markup=False)
            sys.exit(exc.exit_code)
        raise


def _fast_simulate(args: list[str]) -> Any:
    """``pos simulate`` to run without Typer, as a callable, when its flags are ordinary; else None."""
    if not args or args[0] != "simulate":
        return None
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ):
        return None  # a shell-completion request: Typer's
    from pos_pipeline.cli import simulate_run

    chosen = simulate_run.parse(args[1:])
    if chosen is None:
        return None

    def run() -> None:
        # What the top-level callback does for `pos simulate` (no --debug, no --verbose).
        state.debug = False
        setup_logging(verbose=False, debug=False)
        simulate_run.run_parsed(chosen)

    return run


def __getattr__(name: str) -> typer.Typer:
    # `from pos_pipeline.cli.main import app` still works, importing Typer only then.
    if name == "app":
        from pos_pipeline.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
