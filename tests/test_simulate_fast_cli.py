"""`pos simulate` with ordinary flags is parsed without Typer: the same options, the same values."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pos_pipeline.cli import simulate_cmd, simulate_run
from pos_pipeline.cli.app import app

DEFAULTS = {name: p.default for name, p in inspect.signature(simulate_run.simulate).parameters.items()}

ORDINARY = [
    [],
    ["--start", "2025-06-02", "--count", "25", "--output", "jsonl", "--quiet"],
    ["--start=2025-06-02", "--days=3", "--output=jsonl", "-q", "--file", "-", "--workers", "2"],
    ["--resume", "--no-catch-up", "--days", "1", "--state", "x/s.json", "--checkpoint-every", "0"],
    ["--follow", "--start", "2026-10-01", "--speed", "300", "--scale", "0.05", "--seed", "0"],
    ["--rate", "12.5", "--partitions", "12", "--metrics-port", "9400", "--metrics-host", "0.0.0.0"],
    ["--output", "jsonl", "--inventory-file", "r.jsonl", "--file", "t.jsonl", "--shard", "2/3"],
    ["--catch-up", "--scale", "1", "--count", "0", "--output", "kafka"],
]


def typer_keywords(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> dict[str, Any]:
    """What the Typer command hands the body for ``pos simulate ARGS``."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(simulate_run, "simulate", lambda **kw: seen.update(kw))
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 0, result.output
    return seen


@pytest.mark.parametrize("args", ORDINARY, ids=lambda a: " ".join(a) or "(none)")
def test_the_fast_parser_reads_what_typer_reads(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    parsed = simulate_run.parse(args)
    assert parsed is not None
    expected = typer_keywords(monkeypatch, args)
    got = {**DEFAULTS, **parsed}
    assert got == expected
    assert [type(v) for v in got.values()] == [type(expected[k]) for k in got]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--count", "-5"],
        ["--count", "1e3"],
        ["--count", " 7"],
        ["--count", "007"],
        ["--scale", ".5"],
        ["--scale", "inf"],
        ["--count", "1", "--count", "2"],
        ["--bogus"],
        ["--count"],
        ["--follow=yes"],
        ["--output", "JSONL"],
        ["positional"],
        ["--", "--count", "1"],
        ["--start", "--count"],
    ],
)
def test_anything_unusual_is_left_to_typer(args: list[str]) -> None:
    assert simulate_run.parse(args) is None


def test_the_fast_parser_knows_every_option_of_the_command() -> None:
    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(name="simulate", callback=simulate_cmd.simulate),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    typer_flags = {
        option: param.name
        for param in command.params
        for option in [*param.opts, *getattr(param, "secondary_opts", [])]
        if option not in ("--help", "-h")
    }
    assert typer_flags == {option: flag.name for option, flag in simulate_run.FLAGS.items()}
    typer_defaults = {
        name: p.default for name, p in inspect.signature(simulate_cmd.simulate).parameters.items()
    }
    assert typer_defaults == DEFAULTS
