"""``pos schema --asyncapi``: a document the official AsyncAPI parser accepts, true to the code."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from live_helpers import needs
from pos_cli import pos_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.contract import dead_letter as dl
from pos_pipeline.contract.asyncapi import asyncapi_document, first_events
from pos_pipeline.contract.restock import check_restock, restock_schema_text
from pos_pipeline.contract.schema import schema_text
from pos_pipeline.contract.validate import ERROR_CLASSES, MAX_MESSAGE_BYTES, check, reference_entities
from pos_pipeline.reference.tax import tax_table
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor
from test_cli_errors import assert_one_line_error

HERE = Path(__file__).parent / "asyncapi"
NODE = "/usr/bin/node"
RENAMED = {
    "POS_TOPIC": "Till.sales",
    "POS_INVENTORY_TOPIC": "Till.deliveries",
    "POS_DLQ_TOPIC": "Till.rejects",
    "POS_KAFKA_BOOTSTRAP_SERVERS": "kafka-a.internal:9092,SASL_SSL://kafka-b.internal:9093",
    "POS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "POS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "POS_KAFKA_SASL_USERNAME": "pos",
    "POS_KAFKA_SASL_PASSWORD": "hunter2-secret",
}
SCHEMAS = {"PosTransactionV1": schema_text, "RestockV1": restock_schema_text}


def validate(*documents: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the official parser (tests/asyncapi/validate.mjs) over ``documents``."""
    node = needs(NODE, "apt-get install nodejs npm")
    needs(str(HERE / "node_modules/@asyncapi/parser/package.json"), "npm ci --prefix tests/asyncapi")
    files = []
    for index, document in enumerate(documents):
        path = tmp / f"document{index}.json"
        path.write_text(json.dumps(document))
        files.append(str(path))
    return subprocess.run(
        [str(node), str(HERE / "validate.mjs"), *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What ``pos schema --asyncapi`` prints for a user who renamed the topics and uses SASL."""
    home = tmp_path_factory.mktemp("asyncapi")
    result = run_pos(["schema", "--asyncapi"], pos_env(home, **RENAMED), home)
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stdout
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def embedded() -> dict[str, Any]:
    """The document for the default topics and an embedded broker that is not running."""
    settings = Settings(
        topic="PointOfSale",
        inventory_topic="PointOfSale.inventory",
        dlq_topic="PointOfSale.dlq",
        kafka_bootstrap_servers=None,
    )
    settings.kafka = {}
    return asyncapi_document(settings, None)


def test_the_parser_accepts_the_documents(
    renamed: dict[str, Any], embedded: dict[str, Any], tmp_path: Path
) -> None:
    result = validate(renamed, embedded, tmp=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("valid AsyncAPI 3.0.0, 3 channel(s)") == 2, result.stdout


def broken_reference(document: dict[str, Any]) -> None:
    document["channels"]["deadLetters"]["messages"]["deadLetter"]["$ref"] = "#/components/messages/gone"


def broken_action(document: dict[str, Any]) -> None:
    document["operations"]["loadTransactions"]["action"] = "subscribe"  # AsyncAPI 2's word


def broken_payload(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["RestockV1"]["properties"]["lines"]["minItems"] = "one"


def test_the_parser_rejects_broken_documents(embedded: dict[str, Any], tmp_path: Path) -> None:
    breakages = [broken_reference, broken_action, broken_payload]
    documents = []
    for breakage in breakages:
        documents.append(copy.deepcopy(embedded))
        breakage(documents[-1])
    result = validate(*documents, tmp=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for index in range(len(breakages)):
        assert f"document{index}.json: invalid, " in result.stdout, result.stdout


def test_the_channels_are_the_settings_topics(renamed: dict[str, Any]) -> None:
    addresses = {name: channel["address"] for name, channel in renamed["channels"].items()}
    assert addresses == {
        "transactions": "Till.sales",
        "restocks": "Till.deliveries",
        "deadLetters": "Till.rejects",
    }
    sent = {(op["action"], op["channel"]["$ref"]) for op in renamed["operations"].values()}
    assert sent == {
        ("send", "#/channels/transactions"),
        ("send", "#/channels/restocks"),
        ("receive", "#/channels/transactions"),
        ("receive", "#/channels/restocks"),
        ("send", "#/channels/deadLetters"),
    }
    source = renamed["components"]["messages"]["deadLetter"]["headers"]["properties"][dl.SOURCE_TOPIC]
    assert source["enum"] == ["Till.sales", "Till.deliveries"]


def test_the_servers_are_the_settings_bootstrap(renamed: dict[str, Any], embedded: dict[str, Any]) -> None:
    servers = renamed["servers"]
    assert [(s["host"], s["protocol"]) for s in servers.values()] == [
        ("kafka-a.internal:9092", "kafka-secure"),
        ("kafka-b.internal:9093", "kafka-secure"),
    ]
    assert renamed["components"]["securitySchemes"]["broker"]["type"] == "scramSha512"
    assert embedded["servers"]["broker"]["protocol"] == "kafka"
    assert "pos services start" in embedded["servers"]["broker"]["description"]
    assert "securitySchemes" not in embedded["components"]
    assert renamed["info"]["version"] == "0.1.0"
    assert renamed["defaultContentType"] == "application/json"


def unrebased(node: Any, prefix: str) -> Any:
    """A schema with its document-wide ``$ref`` pointers turned back into the schema's own."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "$ref":
                assert value.startswith(prefix), value
                result[key] = "#/" + value[len(prefix) :]
            else:
                result[key] = unrebased(value, prefix)
        return result
    if isinstance(node, list):
        return [unrebased(item, prefix) for item in node]
    return node


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_payloads_are_the_shipped_schemas(renamed: dict[str, Any], name: str) -> None:
    shipped = json.loads(SCHEMAS[name]())
    del shipped["$id"]  # it would rebase the pointers back inside the schema
    embedded_schema = renamed["components"]["schemas"][name]
    assert unrebased(embedded_schema, f"#/components/schemas/{name}/") == shipped
    messages = {m["payload"].get("$ref"): m for m in renamed["components"]["messages"].values()}
    key = messages[f"#/components/schemas/{name}"]["bindings"]["kafka"]["key"]
    assert {k: v for k, v in key.items() if k != "description"} == shipped["properties"]["store_id"]


def test_the_examples_are_messages_the_loader_accepts(renamed: dict[str, Any]) -> None:
    messages = renamed["components"]["messages"]
    (transaction,) = [e["payload"] for e in messages["transaction"]["examples"]]
    (restock,) = [e["payload"] for e in messages["restock"]["examples"]]
    assert (transaction, restock) == first_events()
    fastjsonschema.compile(json.loads(schema_text()))(transaction)
    fastjsonschema.compile(json.loads(restock_schema_text()))(restock)
    known = reference_entities()
    assert str(check(transaction, known, tax_table()).transaction_id) == transaction["transaction_id"]
    assert str(check_restock(restock, known).event_id) == restock["event_id"]
    for name in ("transaction", "restock"):
        key = fastjsonschema.compile(messages[name]["bindings"]["kafka"]["key"])
        key(messages[name]["examples"][0]["payload"]["store_id"])


def test_the_dead_letter_headers_are_the_loaders(renamed: dict[str, Any]) -> None:
    letter = renamed["components"]["messages"]["deadLetter"]
    headers = letter["headers"]
    assert list(headers["properties"]) == list(dl.HEADERS)
    assert headers["required"] == list(dl.ALWAYS)
    assert headers["properties"][dl.ERROR_CLASS]["enum"] == list(ERROR_CLASSES)
    assert letter["contentType"] == "application/octet-stream"
    check_headers = fastjsonschema.compile(headers)
    classes = set()
    for example in letter["examples"]:
        check_headers(example["headers"])
        classes.add(example["headers"][dl.ERROR_CLASS])
        assert example["headers"][dl.SOURCE_TOPIC] in ("Till.sales", "Till.deliveries")
        orjson.loads(example["payload"])  # the original message, as it was sent
    assert classes == {"unknown_store", "unknown_sku"}
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        check_headers({**letter["examples"][0]["headers"], dl.ERROR_CLASS: "bogus"})


def test_the_loader_writes_exactly_the_documented_dead_letters(
    warehouse_url: str, bootstrap: str, topic: str
) -> None:
    settings = Settings(topic=topic, inventory_topic=f"{topic}.inventory", dlq_topic=f"{topic}.dlq")
    settings.kafka = {}
    documented = asyncapi_document(settings, bootstrap)["components"]["messages"]["deadLetter"]
    ensure_topics(bootstrap, {}, [settings.topic, settings.inventory_topic, settings.dlq_topic], 1)
    oversized = b'{"pad": "' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    sent = {b"S001": b"\xff\xfe not json", b"S002": oversized}
    publisher = Publisher(bootstrap, {})
    for key, value in sent.items():
        publisher.publish(settings.topic, key, value)
    publisher.flush()
    options = IngestOptions(group="asyncapi", max_messages=len(sent))
    Ingestor(warehouse_url, bootstrap, settings.topic, settings.dlq_topic, {}, options).run()

    # Assigned, not subscribed: one partition to read from the start, no group join to wait for.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "asyncapi-dlq"})
    consumer.assign([TopicPartition(settings.dlq_topic, 0, OFFSET_BEGINNING)])
    letters = []
    for _ in range(60):
        letters += [m for m in consumer.consume(10, 0.5) if m.error() is None]
        if len(letters) >= len(sent):
            break
    consumer.close()
    by_key = {m.key(): m for m in letters}
    assert set(by_key) == set(sent)

    check_headers = fastjsonschema.compile(documented["headers"])
    for key, value in sent.items():
        message = by_key[key]
        raw = message.headers()
        assert isinstance(raw, list)
        names = [name for name, _ in raw]
        headers = {name: text.decode() for name, text in raw if isinstance(text, bytes)}
        check_headers(headers)
        assert headers[dl.SOURCE_TOPIC] == settings.topic
        if value is oversized:
            assert names == list(dl.HEADERS)
            assert headers[dl.TRUNCATED_FROM_BYTES] == str(len(oversized))
            assert message.value() == oversized[:MAX_MESSAGE_BYTES]
        else:
            assert names == list(dl.ALWAYS)
            assert message.value() == value


def test_plain_schema_is_unchanged_and_asyncapi_takes_no_kind(tmp_path: Path) -> None:
    env = pos_env(tmp_path)
    result = run_pos(["schema"], env, tmp_path)
    assert (result.returncode, result.stdout) == (0, schema_text()), result.stderr
    result = run_pos(["schema", "--asyncapi", "restock"], env, tmp_path)
    assert_one_line_error(result, 1, "--asyncapi describes every topic")
    assert result.stdout == ""
