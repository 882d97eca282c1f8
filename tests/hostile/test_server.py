"""The server stays responsive while one user exports a huge chart (probe 3).

The probe: 300 studies with 600-character names; rendering the PNG in the server
process held the interpreter lock and froze ``/_stcore/health`` for 53 s. Only
loopback traffic, bounded in count and time.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from tests.browser import chromium_page, go_to, streamlit_server, wait_for_app


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def _huge_table() -> bytes:
    rng = np.random.default_rng(3)
    k = 300
    names = [f"Study {i} " + "very long name " * 40 for i in range(k)]
    frame = pd.DataFrame({"study": [n[:600] for n in names], "yi": rng.normal(0, 0.3, k),
                          "sei": rng.uniform(0.1, 0.4, k)})
    return frame.to_csv(index=False).encode()


def test_health_stays_fast_while_a_large_export_renders(app_url):
    latencies: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        deadline = time.monotonic() + 120           # bounded: at most two minutes
        while not stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            with urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=10) as r:
                r.read()
            latencies.append(time.monotonic() - t0)
            time.sleep(0.1)

    with chromium_page() as page:
        page.goto(app_url)
        wait_for_app(page)
        go_to(page, "Data")
        uploader = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
        uploader.set_input_files(files=[{"name": "long_names.csv", "mimeType": "text/csv",
                                         "buffer": _huge_table()}])
        page.get_by_text("300 rows").first.wait_for(timeout=30_000)
        go_to(page, "Forest & heterogeneity")
        wait_for_app(page)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        with page.expect_download(timeout=90_000) as download:
            page.get_by_role("button", name="Forest plot (PNG, 300 dpi)").click()
        with open(download.value.path(), "rb") as f:
            head = f.read(8)
        stop.set()
        poller.join(timeout=15)
    assert head == b"\x89PNG\r\n\x1a\n"
    assert len(latencies) >= 5
    assert max(latencies) < 1.0, f"health poll took up to {max(latencies):.2f} s"
