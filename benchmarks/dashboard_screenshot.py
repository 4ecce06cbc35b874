"""The dashboard's screenshot in docs/: ``pos up`` in a scratch POS_HOME, a picture once it has run a while.

    python benchmarks/dashboard_screenshot.py [--seconds 90] [--output docs/dashboard-screenshot.png]

Needs Debian's chromium (/usr/bin/chromium) and Playwright (the dev extra). Everything it starts is
stopped at the end (SIGINT to ``pos up``), and the scratch POS_HOME is removed.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from pos_pipeline.services.ports import free_port


def main() -> None:
    """Run ``pos up``, wait, take the screenshot, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard-screenshot.png"))
    args = parser.parse_args()
    port, metrics = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="pos-screenshot-") as home:
        up = subprocess.Popen(
            [sys.executable, "-m", "pos_pipeline", "up", "--port", str(port), "--metrics-port", str(metrics)],
            env={"POS_HOME": home, "PATH": "/usr/bin:/bin"},
            cwd=home,
            stdin=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or up.poll() is not None:
                        raise SystemExit("pos up did not serve the dashboard") from None
                    time.sleep(0.5)
            time.sleep(args.seconds)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url, wait_until="load")
                page.wait_for_function("window.posDashboard && window.posDashboard.snapshots > 2")
                time.sleep(2)  # one more snapshot, so the charts have settled
                page.screenshot(path=str(args.output))
                browser.close()
            print(f"wrote {args.output}")
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=120)


if __name__ == "__main__":
    main()
