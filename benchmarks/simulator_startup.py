"""How long ``pos simulate`` takes from launch to its first receipt, for this tree and another commit.

    python benchmarks/simulator_startup.py [--before REF] [--runs 7]

Each run launches ``python -m pos_pipeline simulate --start 2025-06-02 --count 25 --output jsonl
--quiet`` in a fresh ``POS_HOME`` (scale 1, the real chain) and times, with ``time.perf_counter``,
until the first line arrives on its stdout (a pipe). ``--before REF`` measures that commit too
(extracted with ``git archive``, run with its ``src`` first on ``PYTHONPATH``), alternating
with this tree, each warmed once so that neither pays for compiling bytecode. Medians and
minimums are printed as a Markdown table. Run it under ``flock /tmp/pos-bench.lock``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["simulate", "--start", "2025-06-02", "--count", "25", "--output", "jsonl", "--quiet"]


def first_receipt(src: Path, home: Path) -> float:
    """Seconds from launch to the first line on stdout (the rest is read and discarded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(POS_HOME=str(home), PYTHONPATH=str(src))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", *ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.stdout.read()
    if process.wait() != 0 or not line:
        raise SystemExit(f"pos simulate failed (exit code {process.returncode}) with {src}")
    return elapsed


def extract(ref: str, into: Path) -> Path:
    """The ``src`` tree of commit ``ref``."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main(argv: list[str] | None = None) -> None:
    """Measure, then print the Markdown section."""
    parser = argparse.ArgumentParser(description="pos simulate: launch to first receipt.")
    parser.add_argument("--before", help="also measure this commit (e.g. 3bea12a)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="pos-bench-startup-") as scratch:
        trees = {"this tree": ROOT / "src"}
        if args.before:
            trees[f"before ({args.before})"] = extract(args.before, Path(scratch))
        times: dict[str, list[float]] = {name: [] for name in trees}
        for src in trees.values():
            first_receipt(src, Path(scratch) / "warm")  # compiles the bytecode, fills the page cache
        for run in range(args.runs):
            for name, src in trees.items():
                times[name].append(first_receipt(src, Path(scratch) / f"home-{run}"))
                print(f"{name}: {times[name][-1]:.3f} s", file=sys.stderr)
    today = datetime.now(tz=UTC).date().isoformat()
    lines = [
        f"### `pos simulate`: launch to first receipt, {today}",
        "",
        f"- {platform.machine()}, nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}; "
        f"`python -m pos_pipeline {' '.join(ARGS)}`, {args.runs} alternating runs",
        "",
        "| tree | median s | fastest s |",
        "|---|---:|---:|",
    ]
    for name, values in times.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
