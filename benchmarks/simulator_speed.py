"""How fast pos-pipeline's simulator generates and publishes, against a seed-style baseline.

    python benchmarks/simulator_speed.py [--count N] [--skip-kafka] [--rss] [--rss-counts 1000000,10000000]

Every measurement runs in its own child process (``python -c``), with the
generating thread pinned to one CPU; only the generation is timed (imports and
broker start-up are not). Peak RSS comes from ``os.wait4`` on that child alone.
Progress goes to stderr; stdout is a Markdown section ready for BENCHMARKS.md.

- generation: ``run_simulation(SimulationOptions(seed=1, start=2025-03-17,
  count=N, scale=1.0), JsonLinesSink(...))`` into /dev/null;
- baseline: ``seed_style_baseline.generate`` (Faker, ``random``, floats,
  ``json.dumps``) into /dev/null, on the same machine;
- publishing: the same generation into ``KafkaSink`` on the embedded broker,
  timed until every message is acknowledged (librdkafka's own threads and the
  broker are not pinned);
- ``--rss``: the JSON-lines generation again for each of ``--rss-counts``, to
  show whether memory stays flat as the run grows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = "2025-03-17"
PARTITIONS = 6
RSS_PRESETS = {"full": "1000000,10000000", "small": "20000,100000"}

# Each child pins itself, times only the work, and prints one JSON line.
_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
import simulator_speed
simulator_speed.child(sys.argv[2:])
"""


@dataclass(frozen=True)
class Result:
    """One measured run."""

    label: str
    count: int
    seconds: float
    max_rss_kib: int

    @property
    def rate(self) -> float:
        """Transactions per second."""
        return self.count / self.seconds if self.seconds > 0 else float("nan")


def child(argv: list[str]) -> None:
    """Entry point inside a measuring child: ``KIND CPU COUNT [ARGS...]``."""
    import time

    kind, cpu, count = argv[0], int(argv[1]), int(argv[2])
    if kind == "jsonl":
        os.sched_setaffinity(0, {cpu})
        from datetime import date

        from pos_pipeline.simulate.run import JsonLinesSink, SimulationOptions, run_simulation

        options = SimulationOptions(seed=1, start=date.fromisoformat(START), count=count, scale=1.0)
        with open(argv[3], "wb") as stream:
            started = time.perf_counter()
            emitted = run_simulation(options, JsonLinesSink(stream))
            seconds = time.perf_counter() - started
    elif kind == "baseline":
        os.sched_setaffinity(0, {cpu})
        import seed_style_baseline

        started = time.perf_counter()
        emitted = seed_style_baseline.generate(count, argv[3], seed=1)
        seconds = time.perf_counter() - started
    elif kind == "kafka":
        from datetime import date

        from pos_pipeline.broker.producer import Publisher
        from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, run_simulation

        publisher = Publisher(argv[3], {})
        # Pinned after librdkafka started its threads: affinity is per thread on Linux and
        # is inherited, so only this (generating) thread is held to one CPU.
        os.sched_setaffinity(0, {cpu})
        options = SimulationOptions(seed=1, start=date.fromisoformat(START), count=count, scale=1.0)
        started = time.perf_counter()
        emitted = run_simulation(options, KafkaSink(publisher, argv[4]))
        seconds = time.perf_counter() - started
        if publisher.delivered != publisher.sent:
            raise SystemExit(f"only {publisher.delivered} of {publisher.sent} messages were acknowledged")
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps({"count": emitted, "seconds": seconds}))


def measure(label: str, kind: str, cpu: int, count: int, *args: str) -> Result:
    """Run one measurement in a fresh child process and read its own peak RSS."""
    print(f"… {label}: {count:,} transactions", file=sys.stderr, flush=True)
    command = [sys.executable, "-c", _CHILD, str(HERE), kind, str(cpu), str(count), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    # wait4 reports this child's own rusage, unlike RUSAGE_CHILDREN's running maximum.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit code {proc.returncode})")
    report = json.loads(output.strip().splitlines()[-1])
    result = Result(label, int(report["count"]), float(report["seconds"]), usage.ru_maxrss)
    print(f"  {result.rate:,.0f} tx/s, peak RSS {result.max_rss_kib / 1024:,.0f} MiB", file=sys.stderr)
    return result


def publish(cpu: int, count: int) -> Result:
    """Start only the embedded broker in a temporary home, publish to it, always stop it."""
    from pos_pipeline.broker.admin import ensure_topics
    from pos_pipeline.config import Settings
    from pos_pipeline.services import start_services, stop_services

    with tempfile.TemporaryDirectory(prefix="pos-bench-") as home:
        # A database URL counts as external, so start_services starts the broker alone.
        settings = Settings(
            home=Path(home),
            database_url="postgresql://unused@127.0.0.1:9/x",
            kafka_bootstrap_servers=None,
        )
        try:
            bootstrap = start_services(settings).bootstrap_servers
            ensure_topics(bootstrap, {}, [settings.topic], PARTITIONS)
            return measure(
                f"pos-pipeline → embedded broker (topic {settings.topic}, {PARTITIONS} partitions)",
                "kafka",
                cpu,
                count,
                bootstrap,
                settings.topic,
            )
        finally:
            stop_services(settings)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def commit() -> str:
    """The checked-out commit, with "+ changes" when the tree is not clean ('' outside git)."""
    git = shutil.which("git")
    if git is None:
        return ""
    try:
        head = subprocess.run(
            [git, "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(HERE), "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"{head} + uncommitted changes" if dirty else head


def parse_counts(text: str) -> list[int]:
    """``1000000,10000000`` (or a preset name) as a list of counts."""
    counts = [int(part.replace("_", "")) for part in RSS_PRESETS.get(text, text).split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive counts separated by commas, got {text!r}")
    return counts


def markdown(results: list[Result], baseline: Result, cpu: int) -> str:
    """The section to paste into BENCHMARKS.md."""
    today = datetime.now(tz=UTC).date().isoformat()
    allowed = len(os.sched_getaffinity(0))
    where = commit()
    lines = [
        f"### Simulator speed, {today}",
        "",
        f"- Machine: {cpu_model()}; nproc {allowed} (of {os.cpu_count()} online); "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})"
        + (f"; pos-pipeline at {where}" if where else ""),
        f"- Each run is its own process; the generating thread is pinned to CPU {cpu}. "
        f"Workload: `SimulationOptions(seed=1, start={START}, scale=1.0)`.",
        "",
        "| run | transactions | seconds | tx/s (one core) | × baseline | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.count:,} | {r.seconds:,.2f} | {r.rate:,.0f} | "
            f"{r.rate / baseline.rate:,.1f} | {r.max_rss_kib / 1024:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure, then print the Markdown section."""
    parser = argparse.ArgumentParser(
        description="Simulator throughput and memory, against a seed-style baseline."
    )
    parser.add_argument("--count", type=int, default=500_000, help="JSON-lines run (default 500,000)")
    parser.add_argument(
        "--baseline-count", type=int, default=None, help="baseline run (default: 50,000, at most --count)"
    )
    parser.add_argument(
        "--kafka-count", type=int, default=None, help="broker run (default: 200,000, at most --count)"
    )
    parser.add_argument("--skip-kafka", action="store_true", help="do not start the broker")
    parser.add_argument("--rss", action="store_true", help="also measure peak RSS for --rss-counts")
    parser.add_argument(
        "--rss-counts",
        type=parse_counts,
        default=RSS_PRESETS["full"],
        help="comma-separated counts for --rss (default 1000000,10000000; 'small' = 20000,100000)",
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    baseline_count = args.baseline_count or min(50_000, args.count)
    kafka_count = args.kafka_count or min(200_000, args.count)

    baseline = measure(
        "seed-style baseline (Faker, random, floats, json.dumps) → /dev/null",
        "baseline",
        cpu,
        baseline_count,
        os.devnull,
    )
    results = [
        baseline,
        measure("pos-pipeline → JSON lines (/dev/null)", "jsonl", cpu, args.count, os.devnull),
    ]
    if not args.skip_kafka:
        results.append(publish(cpu, kafka_count))
    if args.rss:
        for count in args.rss_counts:
            results.append(
                measure("pos-pipeline → JSON lines (/dev/null), memory run", "jsonl", cpu, count, os.devnull)
            )
    print(markdown(results, baseline, cpu))


if __name__ == "__main__":
    main()
