"""Running the real ``pos`` command in a subprocess, with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def pos_env(home: Path, **variables: str) -> dict[str, str]:
    """The caller's environment without any POS_* setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env["POS_HOME"] = str(home)
    env["COLUMNS"] = "200"
    env.update(variables)
    return env


def loader_env(home: Path, database_url: str, bootstrap: str, topic: str) -> dict[str, str]:
    """``pos_env`` pointing at one database and at ``topic`` with its inventory and dead-letter topics."""
    return pos_env(
        home,
        POS_DATABASE_URL=database_url,
        POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        POS_TOPIC=topic,
        POS_INVENTORY_TOPIC=f"{topic}.inventory",
        POS_DLQ_TOPIC=f"{topic}.dlq",
    )


def run_pos(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 180,
    input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pos_pipeline ARGS`` and return its completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "pos_pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_bytes.decode() if input_bytes is not None else None,
    )
