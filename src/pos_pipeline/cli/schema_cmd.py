"""``pos schema``: the contracts of the topics, for the teams that produce to or consume from them."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from pos_pipeline.cli.common import state
from pos_pipeline.contract.restock import restock_schema_text
from pos_pipeline.contract.schema import schema_text
from pos_pipeline.errors import ConfigError, ServiceError


class SchemaKind(StrEnum):
    """Which topic's contract."""

    transaction = "transaction"
    restock = "restock"


def schema(
    kind: Annotated[
        SchemaKind | None,
        typer.Argument(help="transaction (PointOfSale, the default) or restock.", show_default=False),
    ] = None,
    asyncapi: Annotated[
        bool,
        typer.Option(
            "--asyncapi",
            help="Print an AsyncAPI 3.0.0 document (JSON) of all three topics instead: "
            "servers, keys, headers, examples.",
        ),
    ] = False,
) -> None:
    """Print the JSON Schema of a topic's contract (v1), or the AsyncAPI document of every topic."""
    if not asyncapi:
        sys.stdout.write(restock_schema_text() if kind is SchemaKind.restock else schema_text())
        return
    if kind is not None:
        raise ConfigError(f"--asyncapi describes every topic: drop the {kind.value!r} argument")
    # Imported here: building the examples needs the simulator, which plain `pos schema` does not.
    from pos_pipeline.contract.asyncapi import asyncapi_document
    from pos_pipeline.services import resolve_bootstrap_servers

    settings = state.get_settings()
    try:
        bootstrap: str | None = resolve_bootstrap_servers(settings)
    except ServiceError:
        bootstrap = None  # the embedded broker is not running: the document says how to start it
    sys.stdout.write(json.dumps(asyncapi_document(settings, bootstrap), indent=2) + "\n")
