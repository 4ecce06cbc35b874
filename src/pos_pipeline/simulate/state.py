"""A simulator run's saved state: where the chain's clock and stock stand, and how the run ends.

The file is JSON, replaced atomically (written beside, synced, renamed), so a crash leaves the
previous state or the new one, never half of either. A lock file held for the run's life keeps
two simulators from continuing the same run.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

from pos_pipeline import __version__
from pos_pipeline.errors import ConfigError

#: Bumped whenever the layout changes; any other value is refused.
STATE_FORMAT = 1
STATE_FILE = "simulator.json"
AFRESH = "start afresh with --start"


@dataclass
class RunState:
    """Everything a run needs to go on exactly as if it had never stopped."""

    seed: int
    scale: float
    #: What the random streams are derived from (seed, first day or start instant, scale).
    seed_material: str
    #: Where the events go: "kafka" (with its two topics) or "jsonl".
    output: str
    topics: list[str]
    #: The local day the run is in, and the stock of every store at that day's start.
    day: date
    stock: list[dict[str, Any]]
    #: How many of ``day``'s transactions and restocks (in time order) were emitted.
    day_transactions: int = 0
    day_restocks: int = 0
    #: The topics' end offsets when ``day`` began: a run that died is reconciled from there.
    offsets: dict[str, dict[str, int]] | None = None
    #: True once the run stopped cleanly and everything it emitted was acknowledged.
    closed: bool = False
    transactions: int = 0
    restocks: int = 0
    #: The simulated clock: UTC milliseconds of the latest event emitted.
    clock_ms: int | None = None
    #: How the run ends: at a local day (exclusive), a UTC instant, after a count, or never.
    until_day: date | None = None
    until_ms: int | None = None
    count_left: int | None = None
    #: Real-time pacing: simulated UTC ms ``anchor_sim_ms`` was due at wall-clock ``anchor_wall_ms``,
    #: and the clock runs ``speed`` times real time from there.
    anchor_sim_ms: int | None = None
    anchor_wall_ms: int | None = None
    speed: float = 1.0
    follow: bool = False
    rate: float | None = None
    #: UTC intervals in which no checkout was rung up (see ChainSimulator.quiet).
    quiet: list[tuple[int, int]] = field(default_factory=list)
    #: [K, N]: the run is the K-th of N disjoint parts of the chain's stores (None: all of it).
    shard: list[int] | None = None
    format: int = STATE_FORMAT
    version: str = __version__
    saved_at: str = ""

    def to_json(self) -> str:
        """The state as JSON text."""
        # Shallow: the stock is JSON-ready lists already, and deep-copying them (asdict) costs more
        # than the rest of a run's start-up.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["saved_at"] = datetime.now(tz=UTC).isoformat(timespec="seconds")
        for name in ("day", "until_day"):
            data[name] = data[name].isoformat() if data[name] is not None else None
        # Metadata first, so `head` of the file says what it is.
        ordered = {k: data[k] for k in ("format", "version", "saved_at")}
        ordered.update((k, v) for k, v in data.items() if k not in ordered and k != "stock")
        ordered["stock"] = data["stock"]
        return json.dumps(ordered, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> Self:
        """Parse a saved state; ConfigError (one line) if it is corrupt or from another version."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(f"the simulator state {where} is corrupt (not JSON): {AFRESH}") from None
        if not isinstance(data, dict) or "format" not in data:
            raise ConfigError(f"{where} is not a simulator state file")
        if data["format"] != STATE_FORMAT or data.get("version") != __version__:
            raise ConfigError(
                f"the simulator state {where} was written by pos-pipeline {data.get('version')} "
                f"(state format {data['format']}); this is {__version__} (format {STATE_FORMAT}), "
                f"whose streams differ: {AFRESH}"
            )
        try:
            for name in ("day", "until_day"):
                if data.get(name) is not None:
                    data[name] = date.fromisoformat(data[name])
            data["quiet"] = [(int(a), int(b)) for a, b in data.get("quiet", [])]
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the simulator state {where} is corrupt ({exc}): {AFRESH}") from None


def default_path(home: Path, shard: tuple[int, int] | None = None) -> Path:
    """Where runs keep their state unless ``--state`` says otherwise (each shard its own file)."""
    if shard is None:
        return home / "state" / STATE_FILE
    stem, dot, suffix = STATE_FILE.rpartition(".")
    return home / "state" / f"{stem}.shard-{shard[0]}-of-{shard[1]}{dot}{suffix}"


def save(path: Path, state: RunState) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = state.to_json().encode()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def load(path: Path) -> RunState:
    """Read a saved state, or raise ConfigError saying why it cannot be resumed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"no saved simulator state at {path}: nothing to resume (start a run, or give --state FILE)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the simulator state {path}: {exc}") from None
    return RunState.from_json(text, path)


class StateLock:
    """An exclusive lock beside the state file, held while a run may write it."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(
                f"the simulator state {self.path.with_suffix('')} is in use by pos simulate (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
