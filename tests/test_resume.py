"""Resumable runs: split runs equal one run, a killed run resumes exactly, many runs never drift."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from live_helpers import wait_for
from pos_cli import loader_env, pos_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.reference.catalogue import products, stores
from pos_pipeline.simulate import state as saved_state
from pos_pipeline.simulate.run import (
    HEAD_OFFICE_ZONE,
    JsonLinesSink,
    KafkaSink,
    SimulationOptions,
    StateFile,
    run_simulation,
)
from pos_pipeline.warehouse.ingest import IngestOptions, Ingestor

START = date(2026, 2, 2)


def simulate_jsonl(options: SimulationOptions, state: StateFile | None = None) -> tuple[bytes, bytes]:
    """Run the simulator into memory: (transactions, restocks) as JSON lines."""
    out, inventory = io.BytesIO(), io.BytesIO()
    run_simulation(options, JsonLinesSink(out, inventory), state=state)
    return out.getvalue(), inventory.getvalue()


def test_a_run_split_in_two_writes_the_bytes_of_one_run(tmp_path: Path) -> None:
    """`--start D --days 2` then `--resume --days 2` is `--start D --days 4`, through the real CLI."""
    env = pos_env(tmp_path)
    state = tmp_path / "run.json"
    common = ["simulate", "--output", "jsonl", "--state", str(state), "--quiet"]
    pieces = [
        ["--start", START.isoformat(), "--days", "2", "--scale", "0.3", "--seed", "9"],
        ["--resume", "--days", "2"],
    ]
    pending = []
    for index, piece in enumerate(pieces):
        files = [
            "--file",
            str(tmp_path / f"{index}.jsonl"),
            "--inventory-file",
            str(tmp_path / f"{index}.inv"),
        ]
        result = run_pos([*common, *files, *piece], env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(state.read_text())["closed"] is True
        pending.append(any(store["pending"] for store in saved_state.load(state).stock))
    whole = ["--start", START.isoformat(), "--days", "4", "--scale", "0.3", "--seed", "9"]
    files = ["--file", str(tmp_path / "whole.jsonl"), "--inventory-file", str(tmp_path / "whole.inv")]
    result = run_pos([*common, "--state", str(tmp_path / "whole.json"), *files, *whole], env, tmp_path)
    assert result.returncode == 0, result.stderr

    for suffix in ("jsonl", "inv"):
        joined = (tmp_path / f"0.{suffix}").read_bytes() + (tmp_path / f"1.{suffix}").read_bytes()
        assert joined == (tmp_path / f"whole.{suffix}").read_bytes(), suffix
    # The split falls while deliveries ordered on day 2 are on their way: the state carried them.
    assert pending[0] and (tmp_path / "1.inv").read_bytes()


def test_runs_stopped_by_count_anywhere_in_a_day_resume_in_place(tmp_path: Path) -> None:
    """Stops by --count fall mid-day; the pieces still join into the one run's bytes."""
    options = SimulationOptions(seed=4, start=START, days=3, scale=0.3)
    whole = simulate_jsonl(options)
    state = StateFile(tmp_path / "s.json")
    pieces = [simulate_jsonl(SimulationOptions(seed=4, start=START, scale=0.3, count=1), state)]
    for count in (7_777, 1, 12_345):
        pieces.append(simulate_jsonl(SimulationOptions(count=count), StateFile(state.path, resume=True)))
    pieces.append(simulate_jsonl(SimulationOptions(days=3), StateFile(state.path, resume=True)))
    transactions = b"".join(p[0] for p in pieces)
    restocks = b"".join(p[1] for p in pieces)
    assert [p[0].count(b"\n") for p in pieces[:4]] == [1, 7_777, 1, 12_345]
    # The last piece resumed inside the first day, so its three days end where the whole run does.
    assert transactions == whole[0]
    assert restocks == whole[1] and restocks


def read_topic(bootstrap: str, topic: str, quiet_s: float = 4.0) -> list[bytes]:
    """Every message of a topic, read with kafka-python (independent of librdkafka) until it goes quiet.

    Not up to the listed end offsets: Tansu 0.6 lists a partition's end at its last batch's start.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(quiet_s * 1000)
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [record.value for record in consumer]
    finally:
        consumer.close()


def test_a_killed_simulator_resumes_with_every_transaction_once(
    tmp_path: Path, bootstrap: str, topic: str
) -> None:
    """SIGKILL mid-run, then `--resume`: the topic holds the uninterrupted run, and nothing else."""
    env = pos_env(
        tmp_path,
        POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        POS_TOPIC=topic,
        POS_INVENTORY_TOPIC=f"{topic}.inventory",
    )
    state = tmp_path / "state.json"
    args = ["simulate", "--start", START.isoformat(), "--days", "20", "--scale", "0.05", "--seed", "2"]
    command = [sys.executable, "-m", "pos_pipeline", *args, "--state", str(state), "--quiet"]
    # A steady rate, so that the kill falls mid-run however fast this machine is.
    command += ["--checkpoint-every", "0.3", "--rate", "30000"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        # Kill after a checkpoint later than the run's start, so that the resume reconciles from it.
        wait_for(
            "a checkpoint after the first day",
            lambda: state.exists() and json.loads(state.read_text())["day"] > START.isoformat(),
            timeout=120,
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    killed = saved_state.load(state)  # whole and readable, though the writer was killed
    assert not killed.closed and killed.day > START

    result = run_pos([*args[:1], "--resume", "--state", str(state), "--quiet"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    reference = tmp_path / "reference"
    files = [
        "--file",
        str(reference.with_suffix(".jsonl")),
        "--inventory-file",
        str(reference.with_suffix(".inv")),
    ]
    result = run_pos(
        [*args, "--state", str(tmp_path / "ref.json"), "--output", "jsonl", *files], env, tmp_path
    )
    assert result.returncode == 0, result.stderr

    for name, suffix in ((topic, ".jsonl"), (f"{topic}.inventory", ".inv")):
        expected = reference.with_suffix(suffix).read_bytes().splitlines()
        landed = read_topic(bootstrap, name)
        counts = Counter(landed)
        duplicates = sum(n - 1 for n in counts.values())
        assert set(counts) == set(expected), name  # every event, with the same content, and nothing else
        # Duplicates would be identical by construction (same bytes counted together); the
        # reconciliation reads back what landed, so none is sent twice.
        assert duplicates <= 100, (name, duplicates)
        assert len(landed) >= len(expected) > 0


def load(url: str, bootstrap: str, topic: str) -> None:
    Ingestor(
        url,
        bootstrap,
        topic,
        f"{topic}.dlq",
        {},
        IngestOptions(group="ten-runs", idle_exit_s=2.0),
        inventory_topic=f"{topic}.inventory",
    ).run()


def test_ten_resumed_runs_keep_the_warehouse_stock_the_simulators(
    tmp_path: Path, embedded_warehouse_url: str, bootstrap: str, topic: str
) -> None:
    """Ten consecutive runs into one warehouse: its stock is the simulator's; `pos check` passes."""
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 3)
    state = StateFile(tmp_path / "state.json")
    for run in range(10):
        options = (
            SimulationOptions(seed=8, start=START, days=1, scale=0.01)
            if run == 0
            else SimulationOptions(days=1)
        )
        sink = KafkaSink(Publisher(bootstrap, {}), topic, f"{topic}.inventory")
        run_simulation(options, sink, state=StateFile(state.path, resume=run > 0))
        if run in (4, 9):  # the loader runs between runs too, as it would
            load(embedded_warehouse_url, bootstrap, topic)
    saved = saved_state.load(state.path)
    assert saved.day == date(2026, 2, 12) and saved.transactions > 1000

    skus = [p.sku for p in products()]
    simulated = {
        (store.store_id, skus[index]): on_hand
        for store, stock in zip(stores(), saved.stock, strict=True)
        for index, on_hand in enumerate(stock["on_hand"])
    }
    with psycopg.connect(embedded_warehouse_url) as conn:
        rows = conn.execute("SELECT store_id, sku, (on_hand * 1000)::bigint FROM inventory").fetchall()
        negative = conn.execute("SELECT count(*) FROM inventory WHERE on_hand < 0").fetchone()
        loaded = conn.execute("SELECT count(*) FROM transactions").fetchone()
    assert loaded == (saved.transactions,)
    assert negative == (0,)
    warehouse = {(store, sku): int(on_hand) for store, sku, on_hand in rows}
    drifted = {k: (v, warehouse.get(k)) for k, v in simulated.items() if warehouse.get(k) != v}
    assert not drifted, f"{len(drifted)} stock levels differ, e.g. {list(drifted.items())[:3]}"

    env = loader_env(tmp_path, embedded_warehouse_url, bootstrap, topic)
    result = run_pos(["check", "--group", "ten-runs"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all invariants hold" in result.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "no saved simulator state"),
        ("{not json", "is corrupt (not JSON)"),
        ('{"format": 1, "version": "0.0.1"}', "was written by pos-pipeline 0.0.1"),
        ('{"format": 99, "version": "x"}', "state format 99"),
        ("[]", "is not a simulator state file"),
    ],
)
def test_resume_without_a_usable_state_is_one_line_and_fails(
    tmp_path: Path, text: str | None, says: str
) -> None:
    state = tmp_path / "state.json"
    if text is not None:
        state.write_text(text)
    result = run_pos(
        ["simulate", "--resume", "--state", str(state), "--output", "jsonl"], pos_env(tmp_path), tmp_path
    )
    assert result.returncode == 1
    assert says in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_state_file_truncated_anywhere_is_refused(tmp_path: Path) -> None:
    """However much of the file survived, resuming from it says so (it never half-resumes)."""
    state = tmp_path / "state.json"
    simulate_jsonl(SimulationOptions(seed=1, start=START, days=1, scale=0.01), StateFile(state))
    text = state.read_text()
    env = pos_env(tmp_path)
    for cut in (len(text) // 3, len(text) - 5):
        state.write_text(text[:cut])
        result = run_pos(["simulate", "--resume", "--state", str(state), "--output", "jsonl"], env, tmp_path)
        assert result.returncode == 1 and "is corrupt" in result.stderr, result.stderr


def test_resume_refuses_what_the_state_decides(tmp_path: Path) -> None:
    env = pos_env(tmp_path)
    for flag in (["--seed", "3"], ["--scale", "2"], ["--start", "2026-01-01"]):
        result = run_pos(["simulate", "--resume", "--output", "jsonl", *flag], env, tmp_path)
        assert result.returncode == 1 and "come from its state" in result.stderr, result.stderr
    result = run_pos(["simulate", "--no-catch-up", "--count", "1", "--output", "jsonl"], env, tmp_path)
    assert result.returncode == 1 and "--no-catch-up goes with --resume" in result.stderr


def test_a_state_in_use_is_refused_and_a_finished_run_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = pos_env(tmp_path)
    with saved_state.StateLock(state):
        result = run_pos(
            ["simulate", "--state", str(state), "--count", "1", "--start", "2026-01-05", "--output", "jsonl"],
            env,
            tmp_path,
        )
    assert result.returncode == 1 and f"in use by pos simulate (pid {os.getpid()})" in result.stderr
    command = ["simulate", "--state", str(state), "--days", "1", "--start", "2026-01-05", "--scale", "0.01"]
    result = run_pos([*command, "--output", "jsonl", "--file", str(tmp_path / "a.jsonl")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    result = run_pos(["simulate", "--resume", "--state", str(state), "--output", "jsonl"], env, tmp_path)
    assert result.returncode == 0 and "has finished: give --days, --count or --follow" in result.stderr
    assert result.stdout == ""


SPEED = 20_000  # five and a half simulated hours a second: every phase sees stores open


def utc_ms_of(line: bytes) -> int:
    """A receipt's occurred_at as UTC epoch milliseconds."""
    return int(datetime.fromisoformat(orjson.loads(line)["occurred_at"]).timestamp() * 1000)


def run_until(
    command: list[str], env: dict[str, str], cwd: Path, ready: Callable[[], bool], then_s: float
) -> float:
    """Start ``pos``, wait for ``ready`` and ``then_s`` more, SIGTERM it; return its start's wall time."""
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "pos_pipeline", *command], env=env, cwd=cwd)
    try:
        wait_for(f"pos {' '.join(command)} to be ready", lambda: process.poll() is not None or ready(), 120)
        assert process.poll() is None, f"pos {' '.join(command)} ended early"
        time.sleep(then_s)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return started


def test_follow_goes_live_and_resume_catches_up_or_skips_the_outage(tmp_path: Path) -> None:
    """Backfill then live with no gap or overlap; after downtime, --resume publishes what the stores rang
    up meanwhile (original occurred_at), and --no-catch-up skips it."""
    env = pos_env(tmp_path)
    state = tmp_path / "state.json"
    first = datetime.now(HEAD_OFFICE_ZONE).date() - timedelta(days=1)
    jsonl = ["--output", "jsonl", "--state", str(state), "--quiet"]

    def piece(name: str) -> list[str]:
        return ["--file", str(tmp_path / f"{name}.jsonl")]

    def live() -> bool:
        return state.exists() and json.loads(state.read_text())["anchor_sim_ms"] is not None

    fresh = ["simulate", "--start", first.isoformat(), "--follow", "--speed", str(SPEED), "--scale", "0.05"]
    run_until([*fresh, *jsonl, *piece("live")], env, tmp_path, live, 2.0)
    saved = saved_state.load(state)
    assert saved.closed and saved.anchor_sim_ms is not None and saved.anchor_wall_ms is not None

    def clock(wall_s: float) -> int:
        assert saved.anchor_sim_ms is not None and saved.anchor_wall_ms is not None
        return saved.anchor_sim_ms + int((wall_s * 1000 - saved.anchor_wall_ms) * SPEED)

    time.sleep(3)  # the simulator is down; at SPEED, the stores trade for 16 simulated hours
    resumed = run_until(["simulate", "--resume", *jsonl, *piece("caught")], env, tmp_path, lambda: True, 3.0)
    time.sleep(3)
    skipping = run_until(
        ["simulate", "--resume", "--no-catch-up", *jsonl, *piece("skipped")], env, tmp_path, lambda: True, 3.0
    )

    reference = tmp_path / "reference.jsonl"
    command = [*fresh[:3], "--days", "6", "--scale", "0.05", "--output", "jsonl", "--file", str(reference)]
    result = run_pos([*command, "--state", str(tmp_path / "ref.json"), "--quiet"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    whole = reference.read_bytes()
    live_part, caught, skipped = (
        (tmp_path / f"{n}.jsonl").read_bytes() for n in ("live", "caught", "skipped")
    )

    # Backfill, then live: one unbroken prefix of the run, reaching past the switch but not past the clock.
    assert whole.startswith(live_part)
    live_lines = live_part.splitlines()
    backfilled = sum(1 for line in whole.splitlines() if utc_ms_of(line) <= saved.anchor_sim_ms)
    assert len(live_lines) > backfilled, "nothing was published live after the switch"
    assert utc_ms_of(live_lines[-1]) <= clock(time.time())

    # Catching up: the same run goes on where it stopped, the outage's receipts first and at once.
    assert whole.startswith(live_part + caught)
    caught_lines = caught.splitlines()
    assert utc_ms_of(caught_lines[0]) < clock(resumed), "the outage's receipts were not published"
    assert sum(1 for line in caught_lines if utc_ms_of(line) < clock(resumed)) > 10

    # Skipping: nothing from the outage; the stream carries on from the clock's present.
    skipped_lines = skipped.splitlines()
    assert skipped_lines, "nothing was published after --no-catch-up"
    assert utc_ms_of(skipped_lines[0]) >= clock(skipping)
    assert not whole.startswith(live_part + caught + skipped)


def test_a_fresh_run_over_an_unfinished_one_says_it_replaces_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    stopped = threading.Event()
    stopped.set()  # stopped before its first day: saved, and unfinished
    run_simulation(
        SimulationOptions(start=START, days=2, scale=0.01),
        JsonLinesSink(io.BytesIO()),
        stopped,
        state=StateFile(state),
    )
    fresh = ["simulate", "--state", str(state), "--start", "2026-01-05", "--count", "3", "--output", "jsonl"]
    result = run_pos(fresh, pos_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"warning: replacing the unfinished run saved in {state}" in result.stderr
    again = run_pos(fresh, pos_env(tmp_path), tmp_path)  # that run ended by its count: nothing to lose
    assert again.returncode == 0 and "warning" not in again.stderr
