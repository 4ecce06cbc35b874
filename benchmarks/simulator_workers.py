"""``pos simulate --workers N`` against one process, in the same invocation, and the same bytes.

    python benchmarks/simulator_workers.py [--days 10] [--scale 1.0] [--workers 2] [--rounds 3]
                                           [--output /dev/null]

Each measurement is its own child process. A round runs one process, then ``--workers`` worker
processes, alternating, so both see the same machine; the figures are the medians over rounds.

- generation: ``run_simulation(SimulationOptions(seed=1, start=2025-03-17, days=D, scale=S),
  JsonLinesSink(file))`` timed from just before the worker pool is made (forking included) to
  the last line written; imports are not timed (as in ``simulator_speed.py``);
- the command: ``pos simulate --start 2025-03-17 --days D --scale S --output jsonl --file F
  --workers N`` timed from launch to exit (start-up included);
- with ``--check``, every run writes to a temporary file and the script fails unless the
  outputs are the same bytes (SHA-256).

Run it under ``flock /tmp/pos-bench.lock`` on a shared machine. Progress goes to stderr; stdout
is a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = "2025-03-17"

_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
import simulator_workers
simulator_workers.child(sys.argv[2:])
"""


def child(argv: list[str]) -> None:
    """Inside a measuring child: ``WORKERS DAYS SCALE FILE``; prints one JSON line."""
    from contextlib import ExitStack
    from datetime import date

    from pos_pipeline.simulate.run import JsonLinesSink, SimulationOptions, run_simulation
    from pos_pipeline.simulate.workers import WorkerPool

    workers, days, scale, path = int(argv[0]), int(argv[1]), float(argv[2]), argv[3]
    options = SimulationOptions(seed=1, start=date.fromisoformat(START), days=days, scale=scale)
    with open(path, "wb") as stream, ExitStack() as stack:
        started = time.perf_counter()
        pool = stack.enter_context(WorkerPool(workers)) if workers > 1 else 1
        emitted = run_simulation(options, JsonLinesSink(stream), workers=pool)
        stream.flush()
        seconds = time.perf_counter() - started
    print(json.dumps({"count": emitted, "seconds": seconds}))


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def generation(workers: int, days: int, scale: float, path: str) -> tuple[int, float, float]:
    """One generation run in a fresh child: (transactions, seconds, others' CPU share of the run).

    The last is what other processes on the machine used while it ran, in cores (0 = a quiet
    machine): the busy time /proc/stat counts, less the child's own (workers included).
    """
    command = [sys.executable, "-c", _CHILD, str(HERE), str(workers), str(days), str(scale), path]
    before, started = busy_seconds(), time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall, busy = time.perf_counter() - started, busy_seconds() - before
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the run with {workers} worker(s) failed")
    report = json.loads(output.strip().splitlines()[-1])
    others = max(0.0, busy - usage.ru_utime - usage.ru_stime) / wall
    return int(report["count"]), float(report["seconds"]), others


def ceiling(days: int, scale: float) -> float:
    """How much two independent one-process runs gain by running together: the machine's own limit.

    Two children generate the same run at once, each on its own; the result is
    2 × (one alone) ÷ (the two together), 2.0 on a machine whose two cores do not slow each other.
    """
    _, alone, _ = generation(1, days, scale, os.devnull)
    command = [sys.executable, "-c", _CHILD, str(HERE), "1", str(days), str(scale), os.devnull]
    started = time.perf_counter()
    both = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(2)]
    if any(p.wait() != 0 for p in both):
        raise SystemExit("a ceiling run failed")
    return 2 * alone / (time.perf_counter() - started)


def command(workers: int, days: int, scale: float, path: str, home: str) -> float:
    """The whole ``pos simulate`` command, launch to exit, in seconds."""
    args = ["simulate", "--start", START, "--days", str(days), "--scale", str(scale), "--output", "jsonl"]
    args += ["--file", path, "--workers", str(workers), "--quiet", "--state", f"{home}/state-{workers}.json"]
    env = {**os.environ, "POS_HOME": home}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pos_pipeline", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def digest(path: str) -> str:
    """SHA-256 of a file ('' for /dev/null)."""
    if path == os.devnull:
        return ""
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 24):
            sha.update(chunk)
    return sha.hexdigest()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    """The checked-out commit, marked when the tree has changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(HERE), "status", "--porcelain"], capture_output=True, text=True
        )
    except OSError:
        return "?"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> None:
    """Measure, then print the Markdown section."""
    parser = argparse.ArgumentParser(description="pos simulate --workers N against one process.")
    parser.add_argument("--days", type=int, default=10, help="simulated days (default 10: about 1M receipts)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=os.devnull, help="where the lines go (default /dev/null)")
    parser.add_argument("--check", action="store_true", help="write to files and compare the bytes")
    parser.add_argument("--skip-command", action="store_true", help="do not time the whole command")
    parser.add_argument("--ceiling", action="store_true", help="also time two one-process runs at once")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.days < 1 or args.rounds < 1:
        parser.error("--workers must be at least 2, --days and --rounds at least 1")

    times: dict[int, list[float]] = {1: [], args.workers: []}
    others: list[float] = []
    commands: dict[int, list[float]] = {1: [], args.workers: []}
    counts: set[int] = set()
    digests: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="pos-bench-workers-") as home:
        for round_ in range(1, args.rounds + 1):
            for workers in (1, args.workers):
                path = f"{home}/out-{workers}.jsonl" if args.check else args.output
                count, seconds, busy = generation(workers, args.days, args.scale, path)
                others.append(busy)
                counts.add(count)
                digests.add(digest(path))
                times[workers].append(seconds)
                print(
                    f"round {round_}, {workers} worker(s): {count:,} in {seconds:.2f} s "
                    f"(other processes used {busy:.2f} cores meanwhile)",
                    file=sys.stderr,
                )
                if not args.skip_command:
                    commands[workers].append(command(workers, args.days, args.scale, path, home))
                    digests.add(digest(path))
                if args.check:
                    Path(path).unlink()
    if len(counts) != 1 or len(digests) != 1:
        raise SystemExit(f"the runs differ: counts {sorted(counts)}, {len(digests)} different outputs")

    (count,) = counts
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    today = datetime.now(tz=UTC).date().isoformat()
    lines = [
        f"### `--workers {args.workers}` against one process, {today}",
        "",
        f"- Machine: {cpu_model()}; nproc {len(os.sched_getaffinity(0))}; "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; pos-pipeline at {commit()}",
        f"- Workload: `--start {START} --days {args.days} --scale {args.scale}` to JSON lines "
        f"({args.output if not args.check else 'files, compared'}), {count:,} receipts; "
        f"median of {args.rounds} alternating rounds"
        + ("; outputs checked identical (SHA-256)" if args.check else "")
        + f"; other processes used {min(others):.2f}–{max(others):.2f} cores during the runs",
        "",
        "| run | generation s | receipts/s | × one process | whole command s |",
        "|---|---:|---:|---:|---:|",
    ]
    for workers, seconds in ((1, one), (args.workers, many)):
        whole = f"{statistics.median(commands[workers]):.2f}" if commands[workers] else "—"
        label = "one process" if workers == 1 else f"`--workers {workers}`"
        lines.append(f"| {label} | {seconds:.2f} | {count / seconds:,.0f} | {one / seconds:.2f} | {whole} |")
    if args.ceiling:
        limit = ceiling(args.days, args.scale)
        lines += [
            "",
            f"Two independent one-process runs at once: {limit:.2f}× one alone (this machine's own limit; "
            "a single pair, so as noisy as one round).",
        ]
    rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(times[1], times[args.workers], strict=True))
    lines += ["", f"Ratio per round (one process ÷ `--workers {args.workers}`): {rounds}."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
