"""Reading the CSV files shipped in ``pos_pipeline/data``."""

from __future__ import annotations

import csv
import io
from importlib import resources


def read_text(name: str) -> str:
    """The text of a shipped data file."""
    return resources.files("pos_pipeline").joinpath("data", name).read_text(encoding="utf-8")


def read_csv(name: str) -> list[dict[str, str]]:
    """Return the rows of a shipped data file as dictionaries keyed by header."""
    return list(csv.DictReader(io.StringIO(read_text(name))))
