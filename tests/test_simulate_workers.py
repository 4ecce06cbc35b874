"""``pos simulate --workers N`` and ``--shard K/N``: the one-process run's bytes, however it is cut."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from live_helpers import wait_for
from pos_cli import pos_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.reference.catalogue import stores
from pos_pipeline.simulate.engine import ChainSimulator
from pos_pipeline.simulate.run import (
    JsonLinesSink,
    KafkaSink,
    SimulationOptions,
    StateFile,
    run_simulation,
)
from pos_pipeline.simulate.shards import balanced_parts, shard_stores
from pos_pipeline.simulate.workers import WorkerPool

START = date(2026, 3, 2)


def simulate_jsonl(
    options: SimulationOptions, workers: int | WorkerPool = 1, state: StateFile | None = None
) -> tuple[bytes, bytes]:
    """(transactions, restocks) as JSON lines, generated in memory."""
    out, inventory = io.BytesIO(), io.BytesIO()
    run_simulation(options, JsonLinesSink(out, inventory), state=state, workers=workers)
    return out.getvalue(), inventory.getvalue()


def test_workers_write_the_bytes_of_one_process() -> None:
    """Whole days, a count that ends mid-day, two and three workers: always the same bytes."""
    by_days = SimulationOptions(seed=3, start=START, days=4, scale=0.2)
    by_count = SimulationOptions(seed=4, start=date(2025, 12, 22), count=77_777, scale=0.3)
    with WorkerPool(3) as three:
        for options in (by_days, by_count):
            one = simulate_jsonl(options)
            assert one[0] and one[1]
            assert simulate_jsonl(options, workers=2) == one
            assert simulate_jsonl(options, workers=three) == one  # a pool serves run after run


def test_workers_through_the_cli_same_files(tmp_path: Path) -> None:
    env = pos_env(tmp_path)
    args = ["simulate", "--start", "2025-06-27", "--days", "3", "--scale", "0.3", "--seed", "6"]
    files = {}
    for workers in ("1", "2"):
        out, inv = tmp_path / f"{workers}.jsonl", tmp_path / f"{workers}.inv"
        result = run_pos(
            [*args, "--output", "jsonl", "--file", str(out), "--inventory-file", str(inv),
             "--workers", workers, "--state", str(tmp_path / f"{workers}.json"), "--quiet"],
            env,
            tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        files[workers] = (out.read_bytes(), inv.read_bytes())
    assert files["1"] == files["2"]
    assert files["1"][0].count(b"\n") > 10_000 and files["1"][1]


def test_workers_save_and_resume_as_one_process(tmp_path: Path) -> None:
    """A run made with workers, stopped by count mid-day and resumed, joins into the one-process run."""
    whole = simulate_jsonl(SimulationOptions(seed=5, start=START, days=3, scale=0.2))
    state = StateFile(tmp_path / "s.json")
    first = simulate_jsonl(SimulationOptions(seed=5, start=START, scale=0.2, count=9_999), 2, state)
    rest = simulate_jsonl(SimulationOptions(days=3), 2, StateFile(state.path, resume=True))
    assert first[0].count(b"\n") == 9_999
    assert (first[0] + rest[0], first[1] + rest[1]) == whole


def read_partitions(bootstrap: str, topic: str, quiet_s: float = 4.0) -> dict[int, list[tuple[bytes, bytes]]]:
    """Every message of a topic, per partition in order, read with kafka-python until it goes quiet."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(quiet_s * 1000)
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: dict[int, list[tuple[bytes, bytes]]] = {}
        for record in consumer:
            found.setdefault(record.partition, []).append((record.key, record.value))
        return found
    finally:
        consumer.close()


def test_kafka_gets_the_same_messages_in_the_same_order(bootstrap: str, topic: str) -> None:
    """Published with and without workers: every partition of both topics holds the same sequence."""
    options = SimulationOptions(seed=7, start=START, days=4, scale=0.2)
    runs = {}
    for workers in (1, 2):
        name = f"{topic}-{workers}"
        ensure_topics(bootstrap, {}, [name, f"{name}.inventory"], 3)
        run_simulation(
            options, KafkaSink(Publisher(bootstrap, {}), name, f"{name}.inventory"), workers=workers
        )
        runs[workers] = (read_partitions(bootstrap, name), read_partitions(bootstrap, f"{name}.inventory"))
    assert runs[1] == runs[2]
    assert sum(len(p) for p in runs[1][0].values()) > 1000 and runs[1][1]


def lines_by_store(data: bytes) -> dict[str, list[bytes]]:
    by_store: dict[str, list[bytes]] = {}
    for line in data.splitlines():
        by_store.setdefault(orjson.loads(line)["store_id"], []).append(line)
    return by_store


def test_the_shards_together_are_the_one_process_run(tmp_path: Path) -> None:
    """Three shards through the CLI: disjoint stores, and their union is the run, line for line."""
    env = pos_env(tmp_path)
    args = [
        "simulate",
        "--start",
        "2025-12-23",
        "--days",
        "4",
        "--scale",
        "0.2",
        "--seed",
        "8",
        "--output",
        "jsonl",
    ]

    def run(name: str, *extra: str) -> tuple[bytes, bytes]:
        out, inv = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.inv"
        files = ["--file", str(out), "--inventory-file", str(inv), "--quiet"]
        result = run_pos([*args, *files, *extra], env, tmp_path)
        assert result.returncode == 0, result.stderr
        return out.read_bytes(), inv.read_bytes()

    whole = run("whole")
    shards = [
        run(f"shard{k}", "--shard", f"{k}/3", *(["--workers", "2"] if k == 2 else [])) for k in (1, 2, 3)
    ]
    for file in (0, 1):
        assert Counter(line for s in shards for line in s[file].splitlines()) == Counter(
            whole[file].splitlines()
        )
    # Each shard is the run's own lines for its stores, in the run's order.
    expected = lines_by_store(whole[0])
    seen: set[str] = set()
    for shard in shards:
        mine = lines_by_store(shard[0])
        assert not seen & set(mine)
        seen |= set(mine)
        for store, lines in mine.items():
            assert lines == expected[store]
    assert seen == set(expected)
    # Each shard kept its own state file.
    assert sorted(p.name for p in (tmp_path / "state").glob("simulator.shard-*-of-3.json")) == [
        f"simulator.shard-{k}-of-3.json" for k in (1, 2, 3)
    ]


def test_a_shard_resumes_from_its_own_state(tmp_path: Path) -> None:
    env = pos_env(tmp_path)
    common = ["simulate", "--output", "jsonl", "--quiet", "--shard", "2/3"]
    first = ["--start", START.isoformat(), "--days", "2", "--scale", "0.2", "--seed", "2"]
    pieces = []
    for index, piece in enumerate([first, ["--resume", "--days", "1"]]):
        out = tmp_path / f"{index}.jsonl"
        result = run_pos([*common, "--file", str(out), *piece], env, tmp_path)
        assert result.returncode == 0, result.stderr
        pieces.append(out.read_bytes())
    state = tmp_path / "state" / "simulator.shard-2-of-3.json"
    assert json.loads(state.read_text())["shard"] == [2, 3]
    whole = tmp_path / "whole.jsonl"
    three = ["--start", START.isoformat(), "--days", "3", "--scale", "0.2", "--seed", "2"]
    result = run_pos(
        [*common, "--file", str(whole), "--state", str(tmp_path / "w.json"), *three], env, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert pieces[0] + pieces[1] == whole.read_bytes()
    other = run_pos(
        ["simulate", "--output", "jsonl", "--resume", "--days", "1", "--state", str(state), "--shard", "1/3"],
        env,
        tmp_path,
    )
    assert other.returncode == 1 and "resume it with the same --shard" in other.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--workers", "0"], "--workers must be at least 1, got 0"),
        (["--workers", "-3"], "--workers must be at least 1, got -3"),
        (["--shard", "0/2"], "--shard must be K/N"),
        (["--shard", "3/2"], "--shard must be K/N"),
        (["--shard", "1/0"], "--shard must be K/N"),
        (["--shard", "1/51"], "--shard must be K/N"),
        (["--shard", "half"], "--shard must be K/N"),
        (["--shard", "1/2", "--count", "5"], "--count cannot go with --shard"),
    ],
)
def test_bad_workers_and_shards_are_one_line(tmp_path: Path, flags: list[str], says: str) -> None:
    args = ["simulate", "--start", "2026-01-05", "--days", "1", "--output", "jsonl", *flags]
    result = run_pos(args, pos_env(tmp_path), tmp_path)
    assert result.returncode == 1, result.stderr
    assert says in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_shard_needs_a_start(tmp_path: Path) -> None:
    result = run_pos(
        ["simulate", "--shard", "1/2", "--days", "1", "--output", "jsonl"], pos_env(tmp_path), tmp_path
    )
    assert result.returncode == 1 and "--shard needs --start" in result.stderr
    assert result.stderr.count("\n") == 1


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def long_run(tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], list[int], Path]:
    """A long ``--workers 2`` run, once it writes; its process, its workers and its output."""
    out = tmp_path / f"{name}.jsonl"
    command = [sys.executable, "-m", "pos_pipeline", "simulate", "--start", "2025-03-03", "--days", "300",
               "--output", "jsonl", "--file", str(out), "--workers", "2", "--quiet"]  # fmt: skip
    process = subprocess.Popen(
        command, env=pos_env(tmp_path), cwd=tmp_path, stderr=subprocess.PIPE, start_new_session=True
    )
    wait_for("the first lines", lambda: out.exists() and out.stat().st_size > 0, timeout=120)
    workers = children(process.pid)
    assert len(workers) == 2
    return process, workers, out


def test_sigterm_and_ctrl_c_stop_the_workers_cleanly(tmp_path: Path) -> None:
    for name, stop in (("term", signal.SIGTERM), ("int", signal.SIGINT)):
        process, workers, _ = long_run(tmp_path, name)
        try:
            if stop == signal.SIGTERM:
                process.send_signal(stop)
            else:  # as Ctrl-C does: to the whole process group, workers included
                os.killpg(process.pid, stop)
            assert process.wait(timeout=60) == 0, name
            assert process.stderr is not None
            stderr = process.stderr.read().decode()
            assert "Traceback" not in stderr and "simulated" in stderr, stderr
            wait_for("the workers to be gone", lambda w=workers: all(gone(p) for p in w), timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_worker_that_dies_fails_the_run_in_one_line(tmp_path: Path) -> None:
    process, workers, _ = long_run(tmp_path, "killed")
    try:
        os.kill(workers[1], signal.SIGKILL)
        _, stderr_bytes = process.communicate(timeout=60)
        stderr = stderr_bytes.decode()
        assert process.returncode == 1, stderr
        assert f"simulator worker 2 (pid {workers[1]}) died (killed by signal 9)" in stderr, stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr
        wait_for("the other worker to be gone", lambda: gone(workers[0]), timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_day_in_slices_is_the_day() -> None:
    """Slices come in time order without overlap, and joined they are the whole day."""
    for day in (date(2025, 6, 2), date(2025, 11, 2), date(2025, 12, 25)):
        pieces = list(ChainSimulator("slices", 0.2).pieces(day))
        whole = ChainSimulator("slices", 0.2).day(day)
        assert [v for p in pieces for v in p.values] == whole.values
        assert [r.value for p in pieces for r in p.restocks] == [r.value for r in whole.restocks]
        instants = [t for p in pieces for t in p.utc_ms]
        assert instants == sorted(instants)
        if whole.values:
            assert len(pieces) > 1  # the east's morning came out before the west was generated


def test_shards_split_the_stores_evenly_and_the_same_everywhere() -> None:
    areas = [s.floor_area_m2 for s in stores()]
    for parts in (2, 3, 7):
        split = [shard_stores((k, parts), areas) for k in range(1, parts + 1)]
        assert sorted(i for part in split for i in part) == list(range(len(areas)))
        totals = [sum(areas[i] for i in part) for part in split]
        assert max(totals) - min(totals) <= max(areas)
        assert split == balanced_parts(areas, parts)
