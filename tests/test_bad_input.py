"""Poison, replays and conflicting duplicates: exactly the good messages load, the rest are dead letters."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import psycopg

from pos_cli import loader_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.dead_letters import dead_letters_by_reason
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.contract.validate import ERROR_CLASSES
from pos_pipeline.metrics.consumer import OUTCOMES
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor


def poison(good: dict[str, object]) -> list[tuple[str, bytes]]:
    """One message of each kind of bad input, with the error class the loader must give it."""

    def mutated(change) -> bytes:  # type: ignore[no-untyped-def]
        doc = copy.deepcopy(good)
        change(doc)
        return orjson.dumps(doc)

    deep = b"[" * 5000 + b"]" * 5000
    return [
        ("undecodable", b"\xff\xfe\x00garbage"),
        ("empty", b""),
        ("not_object", b"[1, 2, 3]"),
        ("undecodable", deep),
        ("schema_violation", mutated(lambda d: d.pop("store_id"))),
        ("schema_violation", mutated(lambda d: d.__setitem__("total", 12.5))),  # money as a JSON number
        ("arithmetic", mutated(lambda d: d["items"][0].__setitem__("quantity", "0"))),
        ("schema_violation", mutated(lambda d: d["items"][0].__setitem__("quantity", "-1"))),
        ("arithmetic", mutated(lambda d: d.__setitem__("total", "99999.99"))),
        ("unknown_store", mutated(lambda d: d.__setitem__("store_id", "S999"))),
        ("unknown_sku", mutated(lambda d: d["items"][0].__setitem__("sku", "999999"))),
        ("unsupported_schema_version", mutated(lambda d: d.__setitem__("schema_version", 2))),
        ("too_large", b'{"pad": "' + b"x" * 600_000 + b'"}'),
    ]


def test_a_thousand_good_messages_load_and_every_poison_is_a_dead_letter(
    tmp_path: Path, warehouse_url: str, bootstrap: str, topic: str
) -> None:
    dlq = f"{topic}.dlq"
    ensure_topics(bootstrap, {}, [topic, dlq], 3)
    batch = ChainSimulator("poison", 0.05).day(date(2025, 5, 6))
    good = list(zip(batch.keys[:1000], batch.values[:1000], strict=True))
    assert len(good) == 1000
    bad = poison(orjson.loads(good[0][1]))
    conflicting = orjson.loads(good[1][1])
    conflicting["register_id"] = conflicting["register_id"] + 1  # same id, other content

    publisher = Publisher(bootstrap, {})
    for index, (key, value) in enumerate(good):
        publisher.publish(topic, key, value)
        if index == 500:
            for _, body in bad:
                publisher.publish(topic, key, body)
            publisher.publish(topic, good[2][0], good[2][1])  # a replayed duplicate: skipped silently
            publisher.publish(topic, good[1][0], orjson.dumps(conflicting))
    publisher.flush()

    ingestor = Ingestor(warehouse_url, bootstrap, topic, dlq, {}, IngestOptions(group="g", idle_exit_s=2.0))
    stats = ingestor.run()
    assert stats.loaded == 1000
    assert stats.dead_letters == len(bad) + 1
    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT transaction_id) FROM transactions").fetchone()
    assert row == (1000, 1000)

    expected = Counter(kind for kind, _ in bad) + Counter({"conflicting_duplicate": 1})
    assert dead_letters_by_reason(bootstrap, {}, dlq) == expected
    assert set(expected) <= set(ERROR_CLASSES)
    # The metrics say the same as the topic: one series per error class, one outcome per message.
    value = ingestor.metrics.registry.get_sample_value
    assert {k: value("pos_consumer_dead_letters_total", {"reason": k}) for k in expected} == expected
    outcomes = {o: value("pos_consumer_messages_total", {"topic": topic, "outcome": o}) for o in OUTCOMES}
    assert outcomes == {"loaded": 1000, "duplicate": 1, "dead_letter": len(bad) + 1}

    env = loader_env(tmp_path, warehouse_url, bootstrap, topic)
    report = run_pos(["check", "--group", "g"], env, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "conflicting_duplicate" in report.stdout
    assert "all invariants hold" in report.stdout


def test_check_fails_on_a_broken_ledger(
    tmp_path: Path, warehouse_url: str, bootstrap: str, topic: str
) -> None:
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("UPDATE inventory SET on_hand = on_hand + 1 WHERE store_id = 'S001' AND sku = '100001'")
    env = loader_env(tmp_path, warehouse_url, bootstrap, topic)
    report = run_pos(["check"], env, tmp_path)
    assert report.returncode == 1
    assert "violates its invariants" in report.stdout
