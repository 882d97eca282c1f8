"""A long table of 100,000 meta-analyses uploaded on the Many meta-analyses page, in
Debian's Chromium: time to the finished result, and the server's health latency while it
is analysed (the app must stay responsive for everyone).

Run: ``.venv/bin/python benchmarks/bench_many_upload.py [--ids 100000] [--k 5]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import chromium_page, go_to, streamlit_server, wait_for_app  # noqa: E402


def long_csv(m: int, k: int) -> bytes:
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(m), k)
    n = rng.integers(50, 300, g.size)
    frame = pd.DataFrame({"meta_id": [f"MA-{i}" for i in g], "events_t": rng.binomial(n, 0.2),
                          "n_t": n, "events_c": rng.binomial(n, 0.3), "n_c": n})
    return frame.to_csv(index=False).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()
    data = long_csv(args.ids, args.k)
    print(f"{args.ids:,} meta-analyses x {args.k} studies: {len(data) / 2**20:.1f} MB CSV")
    latencies: list[float] = []
    stop = threading.Event()
    with streamlit_server() as url, chromium_page(viewport=(1440, 1000)) as page:
        def poll() -> None:
            while not stop.is_set():
                t0 = time.monotonic()
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30) as r:
                    r.read()
                latencies.append(time.monotonic() - t0)
                time.sleep(0.1)

        page.goto(url)
        wait_for_app(page)
        go_to(page, "Many meta-analyses")
        page.get_by_text("Long table").first.wait_for(timeout=30_000)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        t0 = time.monotonic()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(
            files=[{"name": "many.csv", "mimeType": "text/csv", "buffer": data}])
        page.get_by_role("button", name="All results (CSV)").wait_for(timeout=600_000)
        seconds = time.monotonic() - t0
        stop.set()
        poller.join(timeout=30)
        page.screenshot(path="artifacts/bench_many_upload.png", full_page=False)
    lat = np.array(latencies)
    print(f"upload to finished result: {seconds:.1f} s; health checks during it: "
          f"median {np.median(lat) * 1000:.0f} ms, max {lat.max() * 1000:.0f} ms "
          f"({lat.size} checks)")


if __name__ == "__main__":
    main()
