"""Progress of long work on stderr: a live line on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from pos_pipeline.cli.common import err_console, real_console

if TYPE_CHECKING:  # Rich is imported only when a progress line is shown (start-up: BENCHMARKS.md)
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

LOG_EVERY_S = 5.0
RATE_WINDOW_S = 5.0


class Rate:
    """Events per second over the last few seconds, from a running total sampled now and then."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def __call__(self, total: int) -> float:
        """Record ``total`` now and return the rate over the window."""
        now = time.monotonic()
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        first_at, first = self._samples[0]
        return (total - first) / (now - first_at) if now > first_at else 0.0


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 3 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class ProgressLine:
    """Shows ``render()`` while the block runs: live on a terminal, as a log line every few seconds
    when stderr is a file or a pipe, and not at all when quiet."""

    def __init__(
        self,
        render: Callable[[], str],
        quiet: bool = False,
        console: Console = err_console,
        every_s: float = LOG_EVERY_S,
    ) -> None:
        self._render = render
        self._quiet = quiet
        self._console = console
        self._every = every_s
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _line(self) -> Text:
        from rich.text import Text

        try:
            return Text(self._render())
        except Exception as exc:  # a progress line must never end the work it reports on
            return Text(f"(progress unavailable: {exc})")

    def _log(self) -> None:
        while not self._stop.wait(self._every):
            self._console.print(f"{datetime.now():%H:%M:%S} {self._line()}", highlight=False, markup=False)

    def __enter__(self) -> ProgressLine:
        if self._quiet:
            return self
        if self._console.is_terminal:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._line,
                console=real_console(self._console),
                refresh_per_second=4,
                transient=True,
            )
            self._live.start()
        else:
            self._thread = threading.Thread(target=self._log, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
        if self._thread is not None:
            self._thread.join()
