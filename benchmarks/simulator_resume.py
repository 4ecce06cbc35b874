"""What saving a run's state costs, and how long a killed run takes to reconcile from the topics.

    python benchmarks/simulator_resume.py [--days 20] [--scale 1.0] [--repeat 2]

Starts its own embedded broker (in a temporary POS_HOME) and, on it:

- publishes ``--days`` of backfill (``--start 2025-03-17``) to a fresh topic, once without a state
  file and once saving one (checkpoints every 5 s, the default), timed until every message is
  acknowledged, ``--repeat`` times each, alternating;
- runs ``pos simulate`` with a state file, SIGKILLs it after 4 s, and times ``pos simulate
  --resume`` reading back what landed (the reconciliation, from its log line) and finishing the run;
  then counts the topic with kafka-python against a file run of the same arguments.

Progress goes to stderr; stdout is a Markdown section ready for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, StateFile, run_simulation

START = date(2025, 3, 17)


def publish(bootstrap: str, days: int, scale: float, state: Path | None) -> tuple[int, float]:
    """Backfill ``days`` into a fresh topic; transactions and seconds until all are acknowledged."""
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory"], 6)
    sink = KafkaSink(Publisher(bootstrap, {}), topic, f"{topic}.inventory")
    began = time.perf_counter()
    sent = run_simulation(
        SimulationOptions(seed=1, start=START, days=days, scale=scale),
        sink,
        state=StateFile(state) if state is not None else None,
    )
    return sent, time.perf_counter() - began


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every message, read with kafka-python until the topic is quiet for 5 s."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    values = [record.value for record in consumer]
    consumer.close()
    return values


def kill_and_resume(home: Path, bootstrap: str, days: int, scale: float) -> dict[str, float]:
    """SIGKILL a run after 4 s; time its resume; count the topic against the uninterrupted run."""
    topic = f"bench.kill.{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env |= {"POS_HOME": str(home), "POS_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "POS_TOPIC": topic}
    env["POS_INVENTORY_TOPIC"] = f"{topic}.inventory"
    state = home / "kill.json"
    args = ["simulate", "--start", START.isoformat(), "--days", str(days), "--scale", str(scale)]
    pos = [sys.executable, "-m", "pos_pipeline"]
    process = subprocess.Popen([*pos, *args, "--state", str(state), "--quiet"], env=env)
    time.sleep(4)
    process.send_signal(signal.SIGKILL)
    process.wait()
    began = time.perf_counter()
    resumed = subprocess.run(
        [*pos, "-v", "simulate", "--resume", "--state", str(state), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - began
    landed = re.search(r"(\d+) of its events", resumed.stderr)
    reference = home / "reference.jsonl"
    subprocess.run(
        [
            *pos,
            *args,
            "--output",
            "jsonl",
            "--file",
            str(reference),
            "--state",
            str(home / "r.json"),
            "--quiet",
        ],
        env=env,
        check=True,
    )
    expected = set(reference.read_bytes().splitlines())
    on_topic = Counter(read_topic(bootstrap, topic))
    return {
        "landed": float(landed.group(1)) if landed else 0.0,
        "resume_s": seconds,
        "expected": float(len(expected)),
        "on_topic": float(sum(on_topic.values())),
        "missing": float(len(expected - set(on_topic))),
        "extra": float(len(set(on_topic) - expected)),
        "duplicates": float(sum(n - 1 for n in on_topic.values())),
    }


def main() -> None:
    """Run the measurements and print a Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        settings = Settings(home=home, database_url=None, kafka_bootstrap_servers=None)
        bootstrap = start_services(settings).bootstrap_servers
        try:
            rows = []
            for attempt in range(args.repeat):
                for saving in (False, True):
                    state = home / f"s{attempt}.json" if saving else None
                    sent, seconds = publish(bootstrap, args.days, args.scale, state)
                    rows.append((saving, sent, seconds))
                    print(f"state={saving}: {sent} in {seconds:.1f} s", file=sys.stderr)
            kill = kill_and_resume(home, bootstrap, args.days, args.scale)
            print(kill, file=sys.stderr)
        finally:
            stop_services(settings)
    print(f"### Saving state, and resuming a killed run ({datetime.now(tz=UTC):%Y-%m-%d})\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; ")
    print(f"the embedded broker; `--start {START} --days {args.days} --scale {args.scale}`.\n")
    print("| state file | transactions | seconds | tx/s |")
    print("|---|---:|---:|---:|")
    for saving, sent, seconds in rows:
        label = "saved every 5 s" if saving else "none"
        print(f"| {label} | {sent:,} | {seconds:.1f} | {sent / seconds:,.0f} |")
    print()
    print(
        f"Killed after 4 s, then `--resume`: {kill['landed']:,.0f} events had landed after the last "
        f"checkpoint and were read back; the resume took {kill['resume_s']:.1f} s in all (start-up, "
        f"read-back and the rest of the run). On the topic: {kill['on_topic']:,.0f} messages for "
        f"{kill['expected']:,.0f} expected, {kill['missing']:.0f} missing, {kill['extra']:.0f} extra, "
        f"{kill['duplicates']:.0f} duplicates."
    )


if __name__ == "__main__":
    main()
