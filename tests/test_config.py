"""Settings from the environment and .env, librdkafka pass-through, password masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_pipeline.config import kafka_overrides, load_settings, mask_url
from pos_pipeline.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("POS_DATABASE_URL", "POS_KAFKA_BOOTSTRAP_SERVERS", "POS_TOPIC", "POS_DLQ_TOPIC", "POS_HOME"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url is None
    assert settings.kafka_bootstrap_servers is None
    assert (settings.topic, settings.dlq_topic) == ("PointOfSale", "PointOfSale.dlq")
    assert settings.home == Path(".pos")


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "POS_TOPIC=FromDotenv\nPOS_DLQ_TOPIC=Dlq.FromDotenv\nPOS_KAFKA_LINGER_MS=7\n"
    )
    monkeypatch.setenv("POS_TOPIC", "FromEnv")
    monkeypatch.setenv("POS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    settings = load_settings()
    assert settings.topic == "FromEnv"
    assert settings.dlq_topic == "Dlq.FromDotenv"
    assert settings.kafka["security.protocol"] == "SASL_SSL"
    assert settings.kafka["linger.ms"] == "7"


def test_kafka_overrides_translate_names_and_skip_our_own() -> None:
    props = kafka_overrides(
        {"POS_KAFKA_SASL_USERNAME": "u", "POS_KAFKA_BOOTSTRAP_SERVERS": "x:1", "POS_TOPIC": "t", "OTHER": "o"}
    )
    assert props == {"sasl.username": "u"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("POS_TOPIC", "has space"), ("POS_DATABASE_URL", "mysql://h/d"), ("POS_DLQ_TOPIC", "")],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://pos:s3cret@db:5432/pos", "postgresql://pos:***@db:5432/pos"),
        ("postgresql://pos@db/pos", "postgresql://pos@db/pos"),
        ("postgresql://db/pos", "postgresql://db/pos"),
        (
            "postgresql://pos@db/pos?sslmode=require&password=s3cret",
            "postgresql://pos@db/pos?sslmode=require&password=***",
        ),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
