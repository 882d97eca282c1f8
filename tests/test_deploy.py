"""The lecture-hall deployment: Streamlit processes behind nginx with sticky sessions."""

from __future__ import annotations

import asyncio
import http.cookiejar
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import ROOT, free_port

sys.path.insert(0, str(ROOT / "benchmarks"))
from load_client import Session  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and
                                not Path("/usr/sbin/nginx").exists(),
                                reason="nginx is not installed (make test installs it)")


@pytest.fixture(scope="module")
def hall():
    port, first = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "hall.py"), "--workers", "2",
                             "--port", str(port), "--first-port", str(first)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_browser_keeps_its_route_cookie(hall):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(hall + "/") as r:
        assert r.status == 200 and b"<html" in r.read().lower()
    route = {c.name: c.value for c in jar}["metacore_route"]
    with opener.open(hall + "/_stcore/health") as r:
        assert r.status == 200
    assert {c.name: c.value for c in jar}["metacore_route"] == route


def test_sessions_run_through_the_proxy(hall):
    async def go() -> list[float]:
        sessions = [Session(hall) for _ in range(4)]
        for s in sessions:
            await s.connect()
        times = [await s.rerun() for s in sessions]
        times += [await s.rerun({"tau2_method": ("string_value", "DerSimonian-Laird (DL)")})
                  for s in sessions]
        for s in sessions:
            await s.close()
        return times
    times = asyncio.run(go())
    assert len(times) == 8 and all(t < 30 for t in times)
