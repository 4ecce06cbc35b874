"""``pos simulate``: published messages read back by another client, and reproducible files."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

from pos_cli import pos_env, run_pos
from pos_pipeline.contract.validate import check, decode, reference_entities
from pos_pipeline.reference.tax import tax_table


def read_all_with_kafka_python(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Read a whole topic with kafka-python, a client independent of librdkafka."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = []
        for record in consumer:
            records.append((record.key, record.value))
            if len(records) >= expected:
                break
        return records
    finally:
        consumer.close()


def test_simulate_publishes_contract_messages_keyed_by_store(
    tmp_path: Path, bootstrap: str, topic: str
) -> None:
    env = pos_env(tmp_path, POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap, POS_TOPIC=topic)
    # Real time (no --start) at a steady rate, so the run does not wait for opening hours.
    result = run_pos(["simulate", "--count", "5000", "--rate", "4000"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "simulated 5000 transactions" in result.stderr

    records = read_all_with_kafka_python(bootstrap, topic, 5000)
    assert len(records) == 5000
    entities, taxes = reference_entities(), tax_table()
    ids = set()
    for key, value in records:
        tx = check(decode(value), entities, taxes)  # raises on any contract violation
        assert key == tx.store_id.encode()
        ids.add(tx.transaction_id)
    assert len(ids) == 5000


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    env = pos_env(tmp_path)
    outputs = {}
    for name, seed in (("a", "42"), ("b", "42"), ("c", "43")):
        path = tmp_path / f"{name}.jsonl"
        result = run_pos(
            [
                "simulate",
                "--start",
                "2026-01-05",
                "--count",
                "20000",
                "--seed",
                seed,
                "--output",
                "jsonl",
                "--file",
                str(path),
            ],
            env,
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        outputs[name] = path.read_bytes()
    assert outputs["a"] == outputs["b"]
    assert outputs["a"] != outputs["c"]
    lines = outputs["a"].splitlines()
    assert len(lines) == 20000
    first = orjson.loads(lines[0])
    assert first["occurred_at"].startswith("2026-01-05")


def test_jsonl_to_stdout(tmp_path: Path) -> None:
    result = run_pos(
        ["simulate", "--start", "2025-06-02", "--count", "25", "--output", "jsonl"],
        pos_env(tmp_path),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 25


def test_days_bound_the_backfill_in_local_time(tmp_path: Path) -> None:
    result = run_pos(
        [
            "simulate",
            "--start",
            "2025-06-02",
            "--days",
            "1",
            "--scale",
            "0.01",
            "--output",
            "jsonl",
        ],
        pos_env(tmp_path),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    days = {orjson.loads(line)["occurred_at"][:10] for line in result.stdout.splitlines()}
    assert days == {"2025-06-02"}


def test_schema_command_prints_both_contracts(tmp_path: Path) -> None:
    for kind, title in (("transaction", "PointOfSale transaction"), ("restock", "restock event")):
        result = run_pos(["schema", kind], pos_env(tmp_path), tmp_path)
        assert result.returncode == 0, result.stderr
        assert title in orjson.loads(result.stdout)["title"]


def test_restock_events_go_to_their_own_file(tmp_path: Path) -> None:
    sales, restocks = tmp_path / "sales.jsonl", tmp_path / "restocks.jsonl"
    result = run_pos(
        [
            "simulate",
            "--start",
            "2025-03-17",
            "--days",
            "9",
            "--scale",
            "1",
            "--output",
            "jsonl",
            "--file",
            str(sales),
            "--inventory-file",
            str(restocks),
        ],
        pos_env(tmp_path),
        tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in restocks.read_bytes().splitlines()]
    assert events and {e["event_type"] for e in events} == {"restock"}
    assert all("transaction_id" in orjson.loads(line) for line in sales.read_bytes().splitlines()[:1000])


def test_kafka_and_jsonl_carry_the_same_stream(tmp_path: Path, bootstrap: str, topic: str) -> None:
    args = ["simulate", "--start", "2025-08-11", "--count", "3000", "--seed", "9"]
    env = pos_env(tmp_path, POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap, POS_TOPIC=topic)
    assert run_pos(args, env, tmp_path).returncode == 0
    file = tmp_path / "same.jsonl"
    assert run_pos([*args, "--output", "jsonl", "--file", str(file)], env, tmp_path).returncode == 0
    from_kafka = read_all_with_kafka_python(bootstrap, topic, 3000)
    lines = file.read_bytes().splitlines()
    assert sorted(value for _, value in from_kafka) == sorted(lines)
    # Within a store (a key, so a partition) Kafka keeps the file's order.
    by_store: dict[bytes, list[bytes]] = {}
    for key, value in from_kafka:
        by_store.setdefault(key, []).append(value)
    for key, values in by_store.items():
        assert values == [line for line in lines if orjson.loads(line)["store_id"].encode() == key]


def test_real_time_follows_the_wall_clock_sped_up(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    before = datetime.now(tz=UTC)
    result = run_pos(
        ["simulate", "--count", "40", "--speed", "7200", "--output", "jsonl"],
        pos_env(tmp_path),
        tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    times = [datetime.fromisoformat(orjson.loads(line)["occurred_at"]) for line in result.stdout.splitlines()]
    assert len(times) == 40
    assert times == sorted(times)
    assert before - timedelta(seconds=5) <= times[0] <= before + timedelta(hours=12)
