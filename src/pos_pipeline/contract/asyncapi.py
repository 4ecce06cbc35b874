"""The topics as an AsyncAPI 3.0.0 document (``pos schema --asyncapi``), for the teams that use them.

Everything in it comes from the code it describes: the topic names and the broker from the
settings, the payloads from the shipped JSON Schemas, the dead-letter headers from what the
loader writes, and the examples from a seeded simulator run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

import orjson

from pos_pipeline import __version__
from pos_pipeline.config import Settings
from pos_pipeline.contract import dead_letter as dl
from pos_pipeline.contract.restock import check_restock, restock_schema_text
from pos_pipeline.contract.schema import RUN_ID_HEADER, schema
from pos_pipeline.contract.validate import (
    ERROR_CLASSES,
    MAX_MESSAGE_BYTES,
    Rejection,
    check,
    reference_entities,
)
from pos_pipeline.pipeline import PARTITIONS
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.warehouse.ingest import IngestOptions

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
TRANSACTION_SCHEMA = "PosTransactionV1"
RESTOCK_SCHEMA = "RestockV1"
#: Where the examples come from: the first transaction and the first restock of a simulated
#: chain. Christmas Eve's rush empties shelves, so deliveries come the next day: a second's work.
EXAMPLE_SEED = "pos schema --asyncapi"
EXAMPLE_START = date(2024, 12, 24)
EXAMPLE_SCALE = 0.5
EXAMPLE_DAYS = 31
_DECIMAL = "^(0|[1-9][0-9]*)$"
# AsyncAPI's names for librdkafka's sasl.mechanism values.
_SASL_SCHEMES = {
    "PLAIN": "plain",
    "SCRAM-SHA-256": "scramSha256",
    "SCRAM-SHA-512": "scramSha512",
    "GSSAPI": "gssapi",
}


def asyncapi_document(settings: Settings, bootstrap: str | None) -> dict[str, Any]:
    """The AsyncAPI document of the three topics; ``bootstrap`` None = the embedded broker, not running."""
    transaction_example, restock_example = first_events()
    group = IngestOptions().group
    security = _security_scheme(settings.kafka)
    components: dict[str, Any] = {
        "schemas": {
            TRANSACTION_SCHEMA: embedded_schema(schema(), TRANSACTION_SCHEMA),
            RESTOCK_SCHEMA: embedded_schema(orjson.loads(restock_schema_text()), RESTOCK_SCHEMA),
        },
        "messages": {
            "transaction": _event_message(
                "transaction",
                "A checkout",
                "One checkout at one register of one store, contract v1.",
                TRANSACTION_SCHEMA,
                schema()["properties"]["store_id"],
                transaction_example,
            ),
            "restock": _event_message(
                "restock",
                "A delivery",
                "A delivery received by one store, contract v1.",
                RESTOCK_SCHEMA,
                orjson.loads(restock_schema_text())["properties"]["store_id"],
                restock_example,
            ),
            "deadLetter": _dead_letter_message(settings, transaction_example, restock_example),
        },
        "operationTraits": {
            "loader": {
                "bindings": {
                    "kafka": {
                        "groupId": {
                            "type": "string",
                            "enum": [group],
                            "description": "`pos consume --group` (this is its default); "
                            "both topics are read in the one group",
                        },
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                }
            }
        },
    }
    if security is not None:
        components["securitySchemes"] = {"broker": security}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "pos-pipeline topics",
            "version": __version__,
            "description": (
                "A simulated Canadian grocery chain's point-of-sale events: checkouts on "
                f"`{settings.topic}`, deliveries on `{settings.inventory_topic}`, and what the "
                f"warehouse loader could not load on `{settings.dlq_topic}`. Every event is keyed by "
                "its store_id, so one store's events keep their order within a topic."
            ),
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": _servers(settings, bootstrap, security is not None),
        "channels": {
            "transactions": _channel(settings.topic, "Checkouts, in time order per store.", "transaction"),
            "restocks": _channel(settings.inventory_topic, "Deliveries, in time order per store.", "restock"),
            "deadLetters": _channel(
                settings.dlq_topic,
                "Messages the loader rejected: the original key and bytes, with headers saying why "
                "and where they came from.",
                "deadLetter",
            ),
        },
        "operations": {
            "simulateTransactions": _operation(
                "send", "transactions", "transaction", "`pos simulate` publishes each checkout."
            ),
            "simulateRestocks": _operation(
                "send", "restocks", "restock", "`pos simulate` publishes each delivery."
            ),
            "loadTransactions": _operation(
                "receive",
                "transactions",
                "transaction",
                "`pos consume` loads each checkout into the warehouse, once: a replay is skipped by "
                "transaction_id. Offsets are committed only after the warehouse has committed.",
                loader=True,
            ),
            "loadRestocks": _operation(
                "receive",
                "restocks",
                "restock",
                "`pos consume` loads each delivery into the stock ledger, once: a replay is skipped "
                "by event_id.",
                loader=True,
            ),
            "publishDeadLetters": _operation(
                "send",
                "deadLetters",
                "deadLetter",
                "`pos consume` publishes each message it cannot load, before it commits the offsets "
                "of the batch that held it: none is lost, and a replay may publish one twice.",
            ),
        },
        "components": components,
    }


def embedded_schema(shipped: dict[str, Any], name: str) -> dict[str, Any]:
    """A shipped JSON Schema as it sits at ``#/components/schemas/NAME``.

    AsyncAPI resolves every ``$ref`` against the whole document, so the schema's own ``#/...``
    pointers are rebased onto where it sits; its ``$id`` is dropped, as under JSON Schema's rules
    it would make those pointers point back inside the schema. Nothing else changes.
    """
    prefix = f"#/components/schemas/{name}/"

    def rebase(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: prefix + value[2:] if key == "$ref" and value.startswith("#/") else rebase(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rebase(item) for item in node]
        return node

    rebased: dict[str, Any] = rebase(shipped)
    rebased.pop("$id", None)
    return rebased


@cache
def first_events() -> tuple[dict[str, Any], dict[str, Any]]:
    """The first transaction and the first restock the simulator makes from ``EXAMPLE_SEED``, decoded."""
    transaction: bytes | None = None
    restock: bytes | None = None
    days = ChainSimulator(EXAMPLE_SEED, EXAMPLE_SCALE).days(EXAMPLE_START)
    for _, batch in zip(range(EXAMPLE_DAYS), days, strict=False):
        transaction = transaction or next(iter(batch.values), None)
        restock = restock or next((r.value for r in batch.restocks), None)
        if transaction is not None and restock is not None:
            return orjson.loads(transaction), orjson.loads(restock)
    raise RuntimeError(f"the simulator made no restock in {EXAMPLE_DAYS} days from {EXAMPLE_START}")


def _event_message(
    name: str,
    title: str,
    summary: str,
    schema_name: str,
    store_id: dict[str, Any],
    example: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                RUN_ID_HEADER: {
                    "type": "string",
                    "pattern": "^[0-9a-f]{16}$",
                    "description": "The simulator run (stream) that produced the message: a resumed run "
                    "finds its own messages by it. Other producers need not set it.",
                }
            },
        },
        "payload": {"$ref": f"#/components/schemas/{schema_name}"},
        "bindings": {
            "kafka": {
                "key": {**store_id, "description": "the store_id of the payload, UTF-8"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "name": f"first-{name}",
                "summary": f"The first {name} of a simulated chain from {EXAMPLE_START}",
                "payload": example,
            }
        ],
    }


def dead_letter_headers_schema(settings: Settings) -> dict[str, Any]:
    """The Kafka headers of a dead letter as a JSON Schema: every value is UTF-8 text."""
    decimal = {"type": "string", "pattern": _DECIMAL}
    properties: dict[str, dict[str, Any]] = {
        dl.ERROR_CLASS: {
            "type": "string",
            "enum": list(ERROR_CLASSES),
            "description": "Why the message was rejected: a small fixed set, fit for counting.",
        },
        dl.REASON: {"type": "string", "description": "The rejection in words, for people."},
        dl.SOURCE_TOPIC: {
            "type": "string",
            "enum": [settings.topic, settings.inventory_topic],
            "description": "The topic the message was read from.",
        },
        dl.SOURCE_PARTITION: {**decimal, "description": "Its partition there, in decimal."},
        dl.SOURCE_OFFSET: {
            **decimal,
            "description": "Its offset there, in decimal: with the topic and partition, the message's "
            "identity (a replay can write the same dead letter twice).",
        },
        dl.TRUNCATED_FROM_BYTES: {
            **decimal,
            "description": f"Only on a message over {MAX_MESSAGE_BYTES} bytes: its length; the value "
            f"holds its first {MAX_MESSAGE_BYTES} bytes.",
        },
    }
    return {
        "type": "object",
        "required": list(dl.ALWAYS),
        "properties": {header: properties[header] for header in dl.HEADERS},
        "additionalProperties": False,
    }


def _dead_letter_message(
    settings: Settings, transaction: dict[str, Any], restock: dict[str, Any]
) -> dict[str, Any]:
    unknown_store = {**transaction, "store_id": "S999"}
    unknown_sku = copy.deepcopy(restock)
    unknown_sku["lines"][0]["sku"] = "999999"
    known = reference_entities()
    examples = [
        _dead_letter_example(
            "unknown-store",
            "A checkout from a store the warehouse does not know",
            unknown_store,
            settings.topic,
            lambda doc: check(doc, known, tax_table()),
        ),
        _dead_letter_example(
            "unknown-sku",
            "A delivery of a SKU the warehouse does not sell",
            unknown_sku,
            settings.inventory_topic,
            lambda doc: check_restock(doc, known),
        ),
    ]
    return {
        "name": "deadLetter",
        "title": "A rejected message",
        "summary": "A message the loader could not load, exactly as it was read.",
        "description": (
            "The value is the original message's bytes (cut to the first "
            f"{MAX_MESSAGE_BYTES} bytes when longer: see truncated_from_bytes), which need not "
            "be JSON at all; the key is its key, unchanged. Fix and re-send it to source_topic."
        ),
        "contentType": "application/octet-stream",
        "headers": dead_letter_headers_schema(settings),
        "payload": {"type": "string", "format": "binary", "description": "the original bytes"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": ["string", "null"],
                    "description": "the original message's key, unchanged (its store_id, as sent)",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": examples,
    }


def _dead_letter_example(
    name: str, summary: str, doc: dict[str, Any], topic: str, checker: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    """What the loader writes for ``doc`` read at offset 0 of partition 0 of ``topic``."""
    value = orjson.dumps(doc)
    try:
        checker(doc)
    except Rejection as rejection:
        letter = dl.dead_letter(doc["store_id"].encode(), value, topic, 0, 0, rejection)
    else:
        raise RuntimeError(f"the {name} example was accepted")
    headers = {header: text.decode() if isinstance(text, bytes) else text for header, text in letter.headers}
    return {"name": name, "summary": summary, "headers": headers, "payload": letter.value.decode()}


def _servers(settings: Settings, bootstrap: str | None, secured: bool) -> dict[str, Any]:
    protocol = (
        "kafka-secure"
        if settings.kafka.get("security.protocol", "").upper() in ("SSL", "SASL_SSL")
        else "kafka"
    )
    common: dict[str, Any] = {"protocol": protocol}
    if secured:
        common["security"] = [{"$ref": "#/components/securitySchemes/broker"}]
    if bootstrap is None:
        return {
            "broker": {
                "host": "127.0.0.1:{port}",
                **common,
                "description": "The embedded broker, not running now: `pos services start` starts it "
                "and prints its address.",
                "variables": {"port": {"description": "the port `pos services status` shows"}},
            }
        }
    hosts = [entry.strip().split("://", 1)[-1] for entry in bootstrap.split(",") if entry.strip()]
    return {
        ("broker" if len(hosts) == 1 else f"broker{index}"): {
            "host": host,
            **common,
            "description": "A bootstrap server (POS_KAFKA_BOOTSTRAP_SERVERS, or the embedded broker).",
        }
        for index, host in enumerate(hosts, start=1)
    }


def _security_scheme(overrides: dict[str, str]) -> dict[str, Any] | None:
    """How clients authenticate, as far as the POS_KAFKA_* settings say (never their secrets)."""
    protocol = overrides.get("security.protocol", "").upper()
    if protocol.startswith("SASL"):
        mechanism = overrides.get("sasl.mechanism", overrides.get("sasl.mechanisms", "GSSAPI")).upper()
        scheme = _SASL_SCHEMES.get(mechanism)
        if scheme is not None:
            return {"type": scheme, "description": f"SASL {mechanism} over {protocol}"}
    elif protocol == "SSL" and "ssl.certificate.location" in overrides:
        return {"type": "X509", "description": "a TLS client certificate"}
    return None


def _channel(address: str, description: str, message: str) -> dict[str, Any]:
    return {
        "address": address,
        "description": f"{description} Partitions: {PARTITIONS} when pos creates the topic "
        "(`--partitions`); an existing topic keeps its own.",
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        "bindings": {
            "kafka": {
                "partitions": PARTITIONS,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(
    action: str, channel: str, message: str, description: str, loader: bool = False
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "description": description,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
    }
    if loader:
        operation["traits"] = [{"$ref": "#/components/operationTraits/loader"}]
    return operation
