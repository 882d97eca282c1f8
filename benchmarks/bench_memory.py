"""Server memory after many distinct large analyses (real websocket sessions).

Each of ``--analyses`` sessions pastes its own 20,000-study table on the Data page
and opens the forest plot, so every analysis is new to the server's caches. The
server's resident memory (RSS, /proc) is printed before, during and after; the
caches are bounded by entry counts, a time-to-live and ``maxCacheDataSize``.

Closed sessions are kept for ``server.disconnectedSessionTTL`` (120 s by default, 15 s
here) so a browser can reconnect; the last line is measured after they have expired.

Run: ``.venv/bin/python benchmarks/bench_memory.py`` (about three minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_client import Session  # noqa: E402

from tests.browser import streamlit_process  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def table_text(seed: int, k: int) -> str:
    rng = np.random.default_rng(seed)
    yi, sei = rng.normal(0.1, 0.3, k), rng.uniform(0.05, 0.5, k)
    rows = "\n".join(f"S{seed}-{i}\t{y:.5f}\t{s:.5f}"
                     for i, (y, s) in enumerate(zip(yi, sei, strict=True)))
    return "study\tyi\tsei\n" + rows


async def one(url: str, seed: int, k: int) -> float:
    s = Session(url)
    await s.connect()
    try:
        await s.rerun()
        await s.goto("Data")
        t0 = time.perf_counter()
        await s.rerun({"paste": ("string_value", table_text(seed, k)),
                       "use_paste": ("trigger_value", True)}, timeout=120)
        s.states.pop("use_paste")
        await s.goto("Forest & heterogeneity")
        return time.perf_counter() - t0
    finally:
        await s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analyses", type=int, default=100)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--session-ttl", type=int, default=15,
                    help="server.disconnectedSessionTTL for this run (Streamlit's default: 120 s)")
    args = ap.parse_args()
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.session_ttl)}
    with streamlit_process(env=env) as (url, proc):
        asyncio.run(one(url, 0, 50))
        print(f"server RSS after start-up and one small analysis: {rss_mb(proc.pid):.0f} MB")
        peak, times = 0.0, []
        for i in range(1, args.analyses + 1):
            times.append(asyncio.run(one(url, i, args.rows)))
            peak = max(peak, rss_mb(proc.pid))
            if i % 25 == 0:
                print(f"after {i:>3} distinct {args.rows:,}-row analyses: RSS "
                      f"{rss_mb(proc.pid):.0f} MB (peak {peak:.0f} MB); paste -> forest "
                      f"median {np.median(times):.2f} s")
        time.sleep(args.session_ttl + 15)      # closed sessions expire; caches stay
        asyncio.run(one(url, 10_000, 50))
        print(f"{args.session_ttl + 15} s after the last session closed: RSS "
              f"{rss_mb(proc.pid):.0f} MB (what remains: the bounded caches)")


if __name__ == "__main__":
    main()
