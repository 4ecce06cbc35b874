"""librdkafka configuration for our producers, consumers and admin clients.

Our defaults come first; anything the user sets as ``POS_KAFKA_<NAME>`` wins,
so SASL/SSL, timeouts or batching can be tuned without code changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from confluent_kafka import KafkaException

from pos_pipeline.errors import ConfigError

Client = TypeVar("Client")

#: librdkafka's own log lines (reconnects, transport errors) are routed here rather than
#: written to stderr; our errors already say what failed, so the CLI shows these only
#: with --verbose or --debug.
LIBRDKAFKA_LOG = logging.getLogger("pos_pipeline.librdkafka")

# librdkafka's 45 s session timeout makes the first group join of the embedded
# broker take ~23 s; 6 s keeps it near 3 s and is still safe on one machine.
SESSION_TIMEOUT_MS = "6000"


#: What the confluent-kafka clients accept as configuration.
ClientConfig = dict[str, str | int | float | bool]

# librdkafka logs reconnects at level 6 (info); warnings and errors are enough.
_COMMON: ClientConfig = {"log_level": "4"}


def _merge(defaults: ClientConfig, overrides: Mapping[str, str]) -> ClientConfig:
    return {**_COMMON, **defaults, **overrides}


def producer_config(bootstrap: str, overrides: Mapping[str, str]) -> ClientConfig:
    """An idempotent, batching producer: no duplicates or reordering on retry."""
    return _merge(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "5",
            "batch.num.messages": "10000",
            "compression.type": "lz4",
            "message.timeout.ms": "60000",
        },
        overrides,
    )


def consumer_config(bootstrap: str, group: str, overrides: Mapping[str, str]) -> ClientConfig:
    """A consumer that commits offsets only when told to, after the database has committed."""
    return _merge(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": "1000",
            # Bounded prefetch: librdkafka's defaults (100,000 messages, 64 MiB per partition)
            # would let a large backlog cost hundreds of MiB of queued messages; this holds about
            # two of the loader's largest batches.
            "queued.min.messages": "20000",
            "queued.max.messages.kbytes": "65536",
            # How long a broker may hold a fetch that found nothing: the most a trickle waits
            # for a broker that answers only at the deadline (librdkafka's default is 500 ms).
            "fetch.wait.max.ms": "50",
        },
        overrides,
    )


def admin_config(bootstrap: str, overrides: Mapping[str, str]) -> ClientConfig:
    """An admin client; only connection and security properties matter to it."""
    return _merge({"bootstrap.servers": bootstrap}, overrides)


def make_client(factory: Callable[..., Client], config: ClientConfig) -> Client:
    """Build a confluent-kafka client; a bad ``POS_KAFKA_*`` property becomes a ConfigError."""
    try:
        return factory(config, logger=LIBRDKAFKA_LOG)
    except (KafkaException, ValueError, TypeError) as exc:
        detail: Any = exc.args[0] if exc.args else exc
        text = detail.str() if hasattr(detail, "str") else str(detail)
        raise ConfigError(f"invalid Kafka client setting: {text}") from None
