"""The loader against the server's limit for landing the same receipts, scale-out, and freshness.

    python benchmarks/loader_speed.py [--count 200000 | 0] [--server URL] [--consumers 1,2,4]
                                      [--freshness-seconds 30] [--batch-size N]

Starts an embedded broker (and, without ``--server``, an embedded PostgreSQL) in a temporary
directory, stops them at the end, and prints Markdown rows for BENCHMARKS.md, all from one run:

- the limit: ``../shared/bench/copy_limit.py`` on a scratch database of the same server with the
  very receipts that were published (the server COPYing them pre-encoded into a header-and-lines
  schema: no Python in the timed part);
- ``pos consume`` over the whole backlog, 1 process and then each of ``--consumers`` processes in one
  group (a fresh warehouse each time): receipts a second from the first to the last commit
  (``ingested_at``), the ratio to the limit and to one consumer, peak RSS of the largest process;
  each run ends with ``pos check``, which must pass;
- freshness: at a steady 1,000 receipts a second, p50/p99 of ``ingested_at − published_at``, over
  the run and per 10 s, with the cores the embedded broker used; then the same stream read by a
  plain consumer with no database (the broker's own latency, the control).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from confluent_kafka import Consumer

from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.config import consumer_config
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.config import Settings
from pos_pipeline.services import start_services, stop_services
from pos_pipeline.simulate.run import KafkaSink, SimulationOptions, run_simulation
from pos_pipeline.warehouse.setup import init_warehouse

ROOT = Path(__file__).resolve().parents[1]
COPY_LIMIT = ROOT.parent / "shared" / "bench" / "copy_limit.py"


def log(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def database(admin_url: str, name: str, template: str | None = None) -> str:
    """A fresh database ``name`` on the server of ``admin_url`` (a copy of ``template``)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def publish(bootstrap: str, topic: str, count: int, receipts: Path) -> None:
    """Publish ``count`` simulated checkouts (and their deliveries); keep the receipts' bytes."""
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    with receipts.open("wb") as out:

        class Capturing(KafkaSink):
            def write_day(self, batch):  # type: ignore[no-untyped-def]
                out.writelines(value + b"\n" for value in batch.values)
                super().write_day(batch)

        run_simulation(
            SimulationOptions(seed=3, count=count, start=date(2025, 5, 6)),
            Capturing(Publisher(bootstrap, {}), topic, f"{topic}.inventory"),
        )


def copy_limit(admin_url: str, receipts: Path) -> float:
    """Receipts a second the server lands with copy_limit.py, on a scratch database."""
    url = database(admin_url, "bench_limit")
    out = subprocess.run(
        [sys.executable, str(COPY_LIMIT), url, str(receipts)], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"copy_receipts_tx_per_s (\d+)", out)
    if match is None:
        raise SystemExit(f"copy_limit.py printed no figure: {out!r}")
    return float(match.group(1))


def pos_environment(url: str, bootstrap: str, topic: str) -> dict[str, str]:
    """This process's environment without POS_* settings, pointed at one database and topic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(
        POS_DATABASE_URL=url,
        POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        POS_TOPIC=topic,
        POS_INVENTORY_TOPIC=f"{topic}.inventory",
        POS_DLQ_TOPIC=f"{topic}.dlq",
    )
    return env


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def consume(
    url: str, bootstrap: str, topic: str, group: str, processes: int, extra: list[str]
) -> tuple[float, int, int]:
    """``processes`` × ``pos consume`` in one group to the end of the backlog.

    Returns (receipts a second, receipts loaded, peak RSS KiB of the largest process). The time
    runs from the first partition assignment (the group join is not loading) to the last row's
    ``ingested_at`` (same machine, same clock).
    """
    env = pos_environment(url, bootstrap, topic)
    command = [sys.executable, "-m", "pos_pipeline", "-v", "consume", "--group", group, "--idle-exit", "5"]
    children = [
        subprocess.Popen([*command, *extra], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    assigned: list[float] = []
    logs: list[list[str]] = [[] for _ in children]

    def watch(child: subprocess.Popen[str], lines: list[str]) -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if "assigned partitions" in line and not assigned:
                assigned.append(time.time())

    watchers = [
        threading.Thread(target=watch, args=(child, lines), daemon=True)
        for child, lines in zip(children, logs, strict=True)
    ]
    for watcher in watchers:
        watcher.start()
    # Peak RSS from /proc (VmHWM) while they run: a child's ru_maxrss would include the memory of
    # this parent that the fork copied before exec.
    peak_kib = 0
    while any(child.poll() is None for child in children):
        peak_kib = max([peak_kib, *(_vm_hwm_kib(child.pid) for child in children)])
        time.sleep(0.5)
    for watcher in watchers:
        watcher.join(timeout=5)
    for child, lines in zip(children, logs, strict=True):
        if child.returncode != 0:
            raise SystemExit("pos consume failed:\n" + "".join(lines[-30:]))
    with psycopg.connect(url) as conn:
        last, rows = conn.execute(
            "SELECT extract(epoch FROM max(ingested_at)), count(*) FROM transactions"
        ).fetchone() or (None, 0)
    check = subprocess.run(
        [sys.executable, "-m", "pos_pipeline", "check"], env=env, capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"pos check failed after the load:\n{check.stdout}{check.stderr}")
    if not assigned or last is None:
        raise SystemExit("no partition assignment was logged, or nothing was loaded")
    return int(rows) / (float(last) - assigned[0]), int(rows), peak_kib


WINDOW_S = 10


class BrokerCpu:
    """CPU time of the embedded broker process (found by its listener port), for cores used."""

    def __init__(self, bootstrap: str) -> None:
        port = bootstrap.rsplit(":", 1)[-1]
        self.stat: Path | None = None
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                cmdline
                and cmdline[0].endswith(b"tansu")
                and any(a.endswith(f":{port}".encode()) for a in cmdline)
            ):
                self.stat = proc / "stat"
        self.last = (time.monotonic(), self.seconds())

    def seconds(self) -> float:
        """Its user + system CPU seconds so far (0 if it was not found)."""
        if self.stat is None:
            return 0.0
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cores(self) -> float:
        """Cores it used since the last call."""
        now, cpu = time.monotonic(), self.seconds()
        (then, before), self.last = self.last, (now, cpu)
        return (cpu - before) / (now - then) if now > then else 0.0


def _simulate_steadily(env: dict[str, str], seconds: int, broker: BrokerCpu) -> list[float]:
    """``pos simulate --rate 1000`` for ``seconds``; the broker's cores in each window of the run."""
    simulator = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", "simulate", "--rate", "1000", "--count", str(1000 * seconds)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    cores = []
    broker.cores()
    while True:
        try:
            simulator.wait(timeout=WINDOW_S)
        except subprocess.TimeoutExpired:
            cores.append(broker.cores())
            continue
        break
    if simulator.returncode != 0:
        raise SystemExit(f"pos simulate failed with exit code {simulator.returncode}")
    return cores


@dataclass
class Freshness:
    """Latency percentiles (ms) over a run and per window, and the broker's cores per window."""

    p50: float
    p99: float
    receipts: int
    windows: list[tuple[float, float]]
    broker_cores: list[float]


def _percentiles(lags: list[float]) -> tuple[float, float]:
    ordered = sorted(lags)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def freshness(url: str, bootstrap: str, seconds: int, extra: list[str]) -> Freshness:
    """ingested_at − published_at (ms) at a steady 1,000 transactions per second.

    Every receipt of the run counts, the first ones (loaded while the consumer's first batch
    is planned and its caches warm) included.
    """
    topic = "Freshness"
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    env = pos_environment(url, bootstrap, topic)
    broker = BrokerCpu(bootstrap)
    # Idle time counts from the group join; the simulator starts well within it.
    consumer = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", "consume", "--group", "fresh", "--idle-exit", "20", *extra],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(6)  # let it join the group first
    cores = _simulate_steadily(env, seconds, broker)
    consumer.wait(timeout=600)
    with psycopg.connect(url) as conn:
        rows = conn.execute("""
            SELECT extract(epoch FROM published_at - min(published_at) OVER ()),
                   extract(epoch FROM ingested_at - published_at) * 1000
            FROM transactions WHERE published_at IS NOT NULL""").fetchall()
    return _summary([(float(at), float(lag)) for at, lag in rows], cores)


def _summary(lags: list[tuple[float, float]], cores: list[float]) -> Freshness:
    by_window: dict[int, list[float]] = {}
    for at, lag in lags:
        by_window.setdefault(int(at // WINDOW_S), []).append(lag)
    p50, p99 = _percentiles([lag for _, lag in lags])
    windows = [_percentiles(by_window[w]) for w in sorted(by_window)]
    return Freshness(p50, p99, len(lags), windows, cores)


def broker_alone(bootstrap: str, seconds: int) -> Freshness:
    """The control: receive time − publish time of a plain consumer (no database), same stream."""
    topic = "Latency"
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], 6)
    env = pos_environment("postgresql://unused@127.0.0.1:9/none", bootstrap, topic)
    config = consumer_config(bootstrap, "latency", {})
    config["auto.offset.reset"] = "earliest"
    consumer = Consumer(config)
    consumer.subscribe([topic])
    lags: list[tuple[float, float]] = []
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            # As pos consume polls: wait for one, then take what is already fetched.
            first = consumer.consume(1, 0.1)
            for msg in first + (consumer.consume(1000, 0) if first else []):
                if msg.error() is None:
                    published = msg.timestamp()[1] / 1000
                    lags.append((published, (time.time() - published) * 1000))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    time.sleep(6)  # the group join
    cores = _simulate_steadily(env, seconds, BrokerCpu(bootstrap))
    time.sleep(2)
    done.set()
    receiver.join()
    consumer.close()
    first = min(at for at, _ in lags)
    return _summary([(at - first, lag) for at, lag in lags], cores)


def machine(server: str) -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        match = re.search(r"model name\s*:\s*(.+)", info.read())
        if match:
            cpu = match.group(1).strip()
    return (
        f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}, {server}, {time.strftime('%Y-%m-%d')}"
    )


def server_version(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}".split(" (")[0]


def main() -> None:
    """Measure and print the Markdown rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="backlog receipts (0: freshness only)")
    parser.add_argument("--server", help="admin URL of the PostgreSQL to measure (default: embedded)")
    parser.add_argument("--consumers", default="2,4", help="group sizes to measure besides 1")
    parser.add_argument("--freshness-seconds", type=int, default=30)
    parser.add_argument("--batch-size", type=int, help="pos consume --batch-size (default: its own)")
    args = parser.parse_args()
    extra = ["--batch-size", str(args.batch_size)] if args.batch_size else []
    sizes = [int(n) for n in args.consumers.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="pos-bench-") as home:
        settings = Settings(
            home=Path(home),
            database_url=args.server,
            kafka_bootstrap_servers=None,
        )
        endpoints = start_services(settings)
        try:
            admin = args.server or endpoints.database_url.rsplit("/", 1)[0] + "/postgres"
            version = server_version(admin)
            template = database(admin, "bench_template")
            init_warehouse(template)
            results = []
            limit = 0.0
            if args.count:
                receipts = Path(home) / "receipts.jsonl"
                log(f"publishing {args.count:,} checkouts")
                publish(endpoints.bootstrap_servers, "PointOfSale", args.count, receipts)
                log("the server's limit for these receipts (copy_limit.py)")
                limit = copy_limit(admin, receipts)
                log(f"  {limit:,.0f} receipts/s")
            for processes in [1, *sizes] if args.count else []:
                log(f"{processes} × pos consume over the backlog")
                url = database(admin, f"bench_load_{processes}", "bench_template")
                rate, rows, rss = consume(
                    url, endpoints.bootstrap_servers, "PointOfSale", f"bench-{processes}", processes, extra
                )
                log(f"  {rate:,.0f} receipts/s, {rows:,} loaded, peak RSS {rss // 1024} MiB")
                results.append((processes, rate, rows, rss))
            fresh = None
            if args.freshness_seconds:
                log(f"freshness at 1,000 receipts/s for {args.freshness_seconds} s")
                fresh = freshness(
                    database(admin, "bench_fresh", "bench_template"),
                    endpoints.bootstrap_servers,
                    args.freshness_seconds,
                    extra,
                )
                log("the broker alone at 1,000 receipts/s (a plain consumer, no database)")
                alone = broker_alone(endpoints.bootstrap_servers, args.freshness_seconds)
        finally:
            stop_services(settings)
    print(f"Machine: {machine(version)}\n")
    if results:
        print("| run | receipts | receipts/s | vs limit | vs 1 consumer | peak RSS (largest process) |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| copy_limit.py (same receipts, same server) | {args.count:,} | {limit:,.0f} | 1.00 | | |")
        single = results[0][1]
        for processes, rate, rows, rss in results:
            print(
                f"| {processes} × pos consume, one group | {rows:,} | {rate:,.0f} | {rate / limit:.2f} | "
                f"{rate / single:.2f} | {rss // 1024} MiB |"
            )
    if fresh is not None:
        print(
            f"\nFreshness at 1,000 receipts/s for {args.freshness_seconds} s ({fresh.receipts:,} receipts): "
            f"ingested_at − published_at p50 {fresh.p50:,.0f} ms, p99 {fresh.p99:,.0f} ms; the broker "
            f"alone (a plain consumer, no database, {alone.receipts:,} receipts): p50 {alone.p50:,.0f} ms, "
            f"p99 {alone.p99:,.0f} ms\n"
        )
        print(
            "| seconds | loader p50 | loader p99 | broker's cores | broker alone p50 | p99 | broker's cores |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for w in range(max(len(fresh.windows), len(alone.windows))):
            cells = []
            for run in (fresh, alone):
                p50, p99 = run.windows[w] if w < len(run.windows) else (float("nan"), float("nan"))
                cores = f"{run.broker_cores[w]:.2f}" if w < len(run.broker_cores) else ""
                cells += [f"{p50:,.0f} ms", f"{p99:,.0f} ms", cores]
            print(f"| {w * WINDOW_S}–{(w + 1) * WINDOW_S} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
