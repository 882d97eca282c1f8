"""Start the app with ``streamlit run`` and drive it in Debian's Chromium (Playwright).

Shared by the browser tests and ``benchmarks/bench_app.py``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_process(timeout: float = 60.0, port: int | None = None,
                      env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app on a loopback port; yields ``(url, process)`` and stops it afterwards."""
    port = port or free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    # The log goes to a file: an unread pipe would fill up and block the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                err = log.read().decode("utf-8", "replace")
                raise RuntimeError(f"streamlit did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def streamlit_server(timeout: float = 60.0) -> Iterator[str]:
    """Run the app on a free loopback port; yields its URL and stops it afterwards."""
    with streamlit_process(timeout) as (url, _):
        yield url


@contextlib.contextmanager
def chromium_page(viewport: tuple[int, int] = (1500, 1100)) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
SUMMARY = "[data-testid='stAlertContentInfo']"


def wait_for_app(page, timeout: float = 30_000) -> None:
    """Wait until the script has finished running and the forest chart is drawn."""
    page.wait_for_selector(CHART, timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def go_to(page, title: str) -> None:
    """Open a page from the sidebar, expanding the navigation ("View n more") if needed."""
    link = page.get_by_role("link", name=title)
    if not link.first.is_visible():
        more = page.locator("[data-testid='stSidebarNavViewButton']")
        if more.count() and "more" in more.first.inner_text():
            more.first.click()
    link.first.click()
