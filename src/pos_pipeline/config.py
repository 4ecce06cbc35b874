"""Settings, read once from environment variables and ``.env`` into one object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pos_pipeline.errors import ConfigError

KAFKA_PREFIX = "POS_KAFKA_"
# Settings of our own that share the POS_KAFKA_ prefix but are not librdkafka properties.
_OWN_KAFKA_SETTINGS = {"POS_KAFKA_BOOTSTRAP_SERVERS"}


class Settings(BaseSettings):
    """Where the warehouse and the broker are, and what the topics are called."""

    model_config = SettingsConfigDict(
        env_prefix="POS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(default=None, description="libpq URL; unset = embedded")
    kafka_bootstrap_servers: str | None = Field(default=None, description="unset = embedded")
    topic: str = "PointOfSale"
    dlq_topic: str = "PointOfSale.dlq"
    inventory_topic: str = "PointOfSale.inventory"
    home: Path = Path(".pos")
    kafka: dict[str, str] = Field(default_factory=dict, exclude=True)

    @field_validator("database_url")
    @classmethod
    def _libpq_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        scheme = urlsplit(value).scheme
        if scheme not in ("postgresql", "postgres"):
            raise ValueError(f"must be a postgresql:// URL, got scheme {scheme!r}")
        return value

    @field_validator("topic", "dlq_topic", "inventory_topic")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not value or len(value) > 249 or not set(value) <= allowed:
            raise ValueError(f"{value!r} is not a legal Kafka topic name")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers(cls, value: str | None) -> str | None:
        return value or None


def kafka_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Return librdkafka properties given as ``POS_KAFKA_<NAME>`` (``_`` becomes ``.``)."""
    props: dict[str, str] = {}
    for key, value in environ.items():
        upper = key.upper()
        if upper.startswith(KAFKA_PREFIX) and upper not in _OWN_KAFKA_SETTINGS:
            props[upper[len(KAFKA_PREFIX) :].lower().replace("_", ".")] = value
    return props


def _dotenv_values(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # pydantic-settings depends on python-dotenv

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise ConfigError naming the bad variable on invalid values."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "POS_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg']}") from None
    environ = {**_dotenv_values(Path(".env")), **os.environ}
    settings.kafka = kafka_overrides(environ)
    return settings


# libpq also takes the password as a query parameter: postgresql://u@h/db?password=...
_QUERY_PASSWORD = re.compile(r"(^|&)(password=)[^&]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """Return a URL with any password (user info or ``?password=``) replaced by ``***``, safe to show."""
    parts = urlsplit(url)
    parts = parts._replace(query=_QUERY_PASSWORD.sub(r"\1\2***", parts.query))
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        user = parts.username or ""
        host = netloc[1] if len(netloc) == 2 else ""
        parts = parts._replace(netloc=f"{user}:***@{host}")
    return urlunsplit(parts)
