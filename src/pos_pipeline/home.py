"""``POS_HOME`` as the settings read it, without importing pydantic.

Importing pydantic-settings takes about 0.05 s, and a JSON-lines simulator run needs no setting
but this one (for its default state file), so it reads just this, the way
:class:`pos_pipeline.config.Settings` does: the environment (names in any case) before ``.env``
in the working directory, then the default. A test holds the two equal.
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = "pos_home"
DEFAULT = Path(".pos")


def pos_home() -> Path:
    """The directory ``$POS_HOME`` names (``Settings().home``, read without pydantic)."""
    found = _lookup(os.environ)
    if found is None and Path(".env").is_file():
        from dotenv import dotenv_values  # pydantic-settings reads .env with python-dotenv too

        found = _lookup({k: v for k, v in dotenv_values(".env", encoding="utf-8").items() if v is not None})
    return Path(found) if found is not None else DEFAULT


def _lookup(variables: dict[str, str] | os._Environ[str]) -> str | None:
    """The value of POS_HOME in ``variables``, its name matched in any case (the last one wins)."""
    found = None
    for key, value in variables.items():
        if key.lower() == NAME:
            found = value
    return found
