"""Shared by the live tests: scraping /metrics, waiting for a condition, long-running ``pos`` processes,
and what a test needs from an optional tool (a failure under CI=true, a skip elsewhere)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pos_pipeline.services.ports import free_port

T = TypeVar("T")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page, keyed by (sample name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the series does not exist."""
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every series of one sample name, by labels."""
    return {labels: value for (n, labels), value in samples.items() if n == name}


def wait_for(
    what: str | Callable[[], str], probe: Callable[[], T | None], timeout: float = 60, every: float = 0.25
) -> T:
    """Call ``probe`` until it returns something truthy; on timeout, fail saying ``what`` (or its result)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            last = probe()
            if last:
                return last
        time.sleep(every)
    told = what() if callable(what) else what
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {told} (last: {last!r})")


def needs(path: str, install: str) -> Path:
    """``path`` if it exists; otherwise a failure under CI=true and a skip elsewhere, naming the fix."""
    found = Path(path)
    if not found.exists():
        fail = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
        fail(f"{path} is missing: {install}")
    return found


def ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports."""
    found: set[int] = set()
    while len(found) < count:
        found.add(free_port())
    return sorted(found)


@contextlib.contextmanager
def pos_process(
    args: list[str], env: dict[str, str], cwd: Path, log: IO[str]
) -> Iterator[subprocess.Popen[str]]:
    """``python -m pos_pipeline ARGS`` running in the background, its output in ``log``; SIGTERM after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pos_pipeline", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (a failure under CI=true when missing)."""
    needs(CHROMIUM, "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
        fail("Playwright is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A page opened on this machine only: what it asked for elsewhere, its errors, its navigations."""

    page: Any
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)


def visit(browser: Any, url: str) -> Visit:
    """Open ``url``; every request off 127.0.0.1 is refused and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = Visit(page)

    def route(handle: Any) -> None:
        if urllib.parse.urlsplit(handle.request.url).hostname == "127.0.0.1":
            handle.continue_()
        else:
            seen.outside.append(handle.request.url)
            handle.abort()

    page.route("**/*", route)
    page.on(
        "request", lambda r: None if r.url.startswith("http://127.0.0.1:") else seen.outside.append(r.url)
    )
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("framenavigated", lambda f: seen.navigations.append(f.url) if f == page.main_frame else None)
    page.goto(url, wait_until="load")
    return seen
