"""Progress of ``pos simulate``: a live line on a terminal, log lines when piped, nothing with --quiet."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from pos_cli import loader_env, run_pos

PACED = ["simulate", "--start", "2025-05-05", "--rate", "200", "--output", "jsonl", "--file", "out.jsonl"]


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``pos ARGS`` with a pseudo-terminal as stdout and stderr; everything it drew."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", *args],
        env={**env, "TERM": "xterm-256color"},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process exited
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, drawn.decode(errors="replace")
    return drawn.decode(errors="replace")


def test_a_terminal_gets_a_live_line_with_clock_rate_and_time_left(
    tmp_path: Path, bootstrap: str, topic: str
) -> None:
    env = loader_env(tmp_path, "postgresql://unused@127.0.0.1:1/x", bootstrap, topic)
    drawn = _on_a_terminal([*PACED, "--count", "300"], env, tmp_path)
    assert re.search(
        r"simulated clock 2025-05-0\d \d\d:\d\d ET · published [\d,]+ · [\d,]+ tx/s · \d+% · .* left", drawn
    )
    assert "simulated 300 transactions" in drawn

    quiet = _on_a_terminal([*PACED, "--count", "300", "--quiet"], env, tmp_path)
    assert "simulated clock" not in quiet
    assert "simulated 300 transactions" in quiet


def test_without_a_terminal_progress_is_a_log_line_every_few_seconds(
    tmp_path: Path, bootstrap: str, topic: str
) -> None:
    env = loader_env(tmp_path, "postgresql://unused@127.0.0.1:1/x", bootstrap, topic)
    result = run_pos([*PACED, "--count", "1200"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "simulated clock" in line]
    assert lines, result.stderr
    # Until the first day is generated (seconds on a loaded machine) the clock is not known yet: "—".
    shape = r"\d\d:\d\d:\d\d simulated clock (—|2025-05-0\d \d\d:\d\d ET) · published [\d,]+ · [\d,]+ tx/s"
    assert all(re.match(shape, line) for line in lines), lines
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log
