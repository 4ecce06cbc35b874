"""Prometheus metrics of ``pos consume`` and ``pos simulate``, scraped over HTTP from the real processes,
and scraped by a real Prometheus server answering PromQL (Debian's prometheus package)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from conftest import PgServer
from live_helpers import Samples, needs, ports, pos_process, sample, scrape, series, wait_for
from pos_cli import loader_env, run_pos
from pos_pipeline.broker.admin import ensure_topics
from pos_pipeline.broker.producer import Publisher
from pos_pipeline.contract.validate import ERROR_CLASSES
from pos_pipeline.metrics.consumer import STAGES

GOOD = 600
BAD = [(b"S001", b"not json at all"), (b"S001", b"[1, 2]"), (b"S002", b'{"schema_version": 1}')]
BAD_REASONS = {"undecodable": 1, "not_object": 1, "schema_violation": 1}
PARTITIONS = 3


@dataclass
class RunningConsumer:
    """A ``pos consume`` with its metrics endpoint, over a topic of GOOD receipts and BAD messages."""

    metrics_url: str
    port: int
    database_url: str
    topic: str
    log: Path
    mid_load: list[float]


def _rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM transactions").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def consumer(
    embedded_server: PgServer, bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningConsumer]:
    """The consumer, left running after it loaded everything, so that Prometheus can scrape it too."""
    tmp = tmp_path_factory.mktemp("metrics")
    url = embedded_server.create_database(template=embedded_server.template())
    topic = f"PointOfSale.metrics.{int(time.time() * 1000)}"
    env = loader_env(tmp, url, bootstrap, topic)
    ensure_topics(bootstrap, {}, [topic, f"{topic}.inventory", f"{topic}.dlq"], PARTITIONS)
    simulated = run_pos(["simulate", "--start", "2025-05-05", "--count", str(GOOD), "--quiet"], env, tmp)
    assert simulated.returncode == 0, simulated.stderr
    publisher = Publisher(bootstrap, {})
    for key, value in BAD:
        publisher.publish(topic, key, value)
    publisher.flush()

    (port,) = ports(1)
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    log = tmp / "consume.log"
    with (
        log.open("w") as out,
        pos_process(
            ["consume", "--batch-size", "100", "--metrics-port", str(port)], env, tmp, out
        ) as process,
    ):
        mid_load: list[float] = []

        def loaded() -> float | None:
            value = sample(scrape(metrics_url), "pos_consumer_messages_total", topic=topic, outcome="loaded")
            if value is not None and 0 < value < GOOD:
                mid_load.append(value)
            return value if value == GOOD else None

        wait_for("every good receipt loaded", loaded, timeout=120, every=0.05)
        assert process.poll() is None
        yield RunningConsumer(metrics_url, port, url, topic, log, mid_load)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    embedded_server.drop_database(url)


def test_consumer_metrics_equal_what_the_warehouse_holds(consumer: RunningConsumer) -> None:
    rows = _rows(consumer.database_url)
    assert rows == GOOD

    # Waited for: the dead letters are published after the batch that held them loaded.
    def settled() -> Samples | None:
        found = scrape(consumer.metrics_url)
        letters = sample(found, "pos_consumer_messages_total", topic=consumer.topic, outcome="dead_letter")
        # Counted as the batch is checked; the lag is measured once the batch is committed.
        lag = sum(series(found, "pos_consumer_lag_messages").values())
        return found if letters == len(BAD) and lag == 0 else None

    samples = wait_for("the dead letters counted", settled)
    assert consumer.mid_load, "no scrape saw the load in progress"
    assert sample(samples, "pos_consumer_messages_total", topic=consumer.topic, outcome="loaded") == rows
    assert sample(samples, "pos_consumer_messages_total", topic=consumer.topic, outcome="duplicate") == 0
    # One latency observation per transaction loaded, each after its broker timestamp.
    assert sample(samples, "pos_consumer_end_to_end_latency_seconds_count") == rows
    assert (sample(samples, "pos_consumer_end_to_end_latency_seconds_sum") or 0) > 0
    letters = series(samples, "pos_consumer_dead_letters_total")
    counted = {dict(labels)["reason"]: value for labels, value in letters.items()}
    assert set(counted) == set(ERROR_CLASSES)  # every reason exists from the start, at zero
    assert {reason: n for reason, n in counted.items() if n} == BAD_REASONS

    lag = series(samples, "pos_consumer_lag_messages")
    expected = {frozenset({("topic", consumer.topic), ("partition", str(p))}) for p in range(PARTITIONS)}
    assert expected <= set(lag)
    assert sum(lag.values()) == 0
    for stage in STAGES:
        assert (sample(samples, "pos_consumer_batch_duration_seconds_count", stage=stage) or 0) > 0, stage
    assert (sample(samples, "pos_consumer_rebalances_total") or 0) >= 1
    last_commit = sample(samples, "pos_consumer_last_commit_timestamp_seconds") or 0
    assert time.time() - 120 < last_commit <= time.time()
    assert sample(samples, "pos_build_info", version="0.1.0") == 1
    assert not [name for name, _ in samples if name.endswith("_created")]
    # Without a terminal, the consumer logs its progress every few seconds.
    line = wait_for("a progress log line", lambda: "· lag 0 ·" in consumer.log.read_text(), timeout=15)
    assert line


def test_a_real_prometheus_scrapes_the_consumer_and_answers_promql(
    consumer: RunningConsumer, tmp_path: Path
) -> None:
    binary = needs("/usr/bin/prometheus", "apt-get install prometheus")
    (web_port,) = ports(1)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: pos-consumer\n    static_configs: [{{targets: ['127.0.0.1:{consumer.port}']}}]\n"
    )
    args = [str(binary), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}"]
    args += [f"--web.listen-address=127.0.0.1:{web_port}"]
    with (tmp_path / "prometheus.log").open("w") as log:
        server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:

        def query(promql: str) -> float | None:
            q = urllib.parse.urlencode({"query": promql})
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/v1/query?{q}", timeout=5) as r:
                result = json.load(r)["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        loaded = f'sum(pos_consumer_messages_total{{topic="{consumer.topic}",outcome="loaded"}})'
        assert wait_for("Prometheus to scrape the consumer", lambda: query(loaded), timeout=60) == GOOD
        assert query("sum(pos_consumer_end_to_end_latency_seconds_count)") == GOOD
        assert query("sum(pos_consumer_dead_letters_total)") == len(BAD)
        assert query("sum(pos_consumer_lag_messages)") == 0
        p99 = query("histogram_quantile(0.99, sum by (le) (pos_consumer_end_to_end_latency_seconds_bucket))")
        assert p99 is not None and p99 > 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_simulator_metrics_follow_the_run(tmp_path: Path, bootstrap: str, topic: str) -> None:
    (port,) = ports(1)
    url = f"http://127.0.0.1:{port}/metrics"
    env = loader_env(tmp_path, "postgresql://unused@127.0.0.1:1/x", bootstrap, topic)
    args = [
        "simulate",
        "--start",
        "2025-05-05",
        "--count",
        "400",
        "--rate",
        "100",
        "--metrics-port",
        str(port),
    ]
    with (tmp_path / "simulate.log").open("w") as log, pos_process(args, env, tmp_path, log) as process:

        def mid_run() -> Samples | None:
            found = scrape(url)
            return found if 0 < (sample(found, "pos_simulator_transactions_total") or 0) < 400 else None

        samples = wait_for("receipts counted mid-run", mid_run, every=0.05)
        clock = sample(samples, "pos_simulator_clock_timestamp_seconds") or 0
        # The simulated clock is on the first simulated day, whatever the wall clock says.
        assert datetime.fromisoformat("2025-05-04T12:00:00+00:00").timestamp() < clock
        assert clock < datetime.fromisoformat("2025-05-06T12:00:00+00:00").timestamp()
        assert sample(samples, "pos_simulator_publish_errors_total") == 0
        assert sample(samples, "pos_build_info", version="0.1.0") == 1
        assert process.wait(timeout=60) == 0
    assert "simulated 400 transactions" in (tmp_path / "simulate.log").read_text()


def test_a_taken_metrics_port_is_one_line_and_exit_1(tmp_path: Path, bootstrap: str, topic: str) -> None:
    env = loader_env(tmp_path, "postgresql://unused@127.0.0.1:1/x", bootstrap, topic)
    with subprocess.Popen(
        [
            "python3",
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
            "print(s.getsockname()[1], flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            taken = holder.stdout.readline().strip()
            result = run_pos(
                ["simulate", "--count", "1", "--start", "2025-05-05", "--metrics-port", taken], env, tmp_path
            )
        finally:
            holder.kill()
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: cannot serve metrics on 127.0.0.1:{taken}")
    assert len(result.stderr.strip().splitlines()) == 1
