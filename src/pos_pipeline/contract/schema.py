"""The shipped JSON Schema of contract v1."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_FILE = "pos_transaction.v1.schema.json"
#: The header on every simulated transaction and restock naming the simulator run (its stream)
#: that produced it; a resumed run finds its own messages by it.
RUN_ID_HEADER = "pos_run_id"


def schema_text() -> str:
    """The JSON Schema document, as shipped."""
    return resources.files("pos_pipeline.contract").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema document, parsed."""
    parsed: dict[str, Any] = json.loads(schema_text())
    return parsed
