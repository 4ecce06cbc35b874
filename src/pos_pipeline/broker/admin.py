"""Topic administration: make sure topics exist, and read their extent."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from pos_pipeline.broker.config import admin_config, make_client
from pos_pipeline.errors import BrokerError

log = logging.getLogger(__name__)
METADATA_TIMEOUT_S = 10.0


def _admin(bootstrap: str, overrides: Mapping[str, str]) -> AdminClient:
    return make_client(AdminClient, admin_config(bootstrap, overrides))


def topic_partitions(bootstrap: str, overrides: Mapping[str, str]) -> dict[str, int]:
    """Every topic on the cluster with its partition count; BrokerError if unreachable."""
    try:
        metadata = _admin(bootstrap, overrides).list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap}: {exc.args[0].str()}") from None
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def ensure_topics(
    bootstrap: str, overrides: Mapping[str, str], names: list[str], partitions: int
) -> list[str]:
    """Create any of ``names`` that do not exist yet; return the ones created."""
    existing = topic_partitions(bootstrap, overrides)
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    admin = _admin(bootstrap, overrides)  # must outlive the futures it returns
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=-1) for n in missing],
        operation_timeout=METADATA_TIMEOUT_S,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
            log.info("created topic %s with %d partitions", name, partitions)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name}: {exc.args[0].str()}") from None
    return created
