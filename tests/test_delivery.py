"""Undelivered messages are counted and reported, against a real broker that goes away."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.errors import DeliveryError
from pos_pipeline.services import start_services, stop_services


def test_publisher_reports_every_undelivered_message(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, database_url="postgresql://unused@127.0.0.1:9/x", kafka_bootstrap_servers=None
    )
    bootstrap = start_services(settings).bootstrap_servers
    try:
        ensure_topics(bootstrap, {}, ["doomed"], 1)
        publisher = Publisher(bootstrap, {"message.timeout.ms": "1500"})
        publisher.publish("doomed", b"k", b"delivered")
        publisher.flush()
        assert publisher.delivered == 1
    finally:
        stop_services(settings)
    for n in range(10):
        publisher.publish("doomed", b"k", b"lost %d" % n)
    with pytest.raises(DeliveryError, match="10 of 11 messages were not delivered") as raised:
        publisher.flush(timeout_s=30)
    assert raised.value.failed == 10
