"""Many users at once: real Streamlit websocket sessions on loopback (no browser).

A lecture hall: N students open the app on the bundled BCG table and change the
sidebar controls (τ² estimator, CI method, confidence level). Reported:

* latency of a control change (send -> ``script_finished``), median and p95;
* the server's CPU time per rerun (from /proc), the figure the issue caps at 40 ms;
* the first page load of each session.

Two workloads: students who pause ``--think`` seconds between clicks (default 1 s,
random 0.5-1.5 s) and, with ``--think 0``, everyone clicking back to back (saturation).
Bounded: every session stops after ``--changes`` reruns or ``--limit`` seconds.

Run: ``.venv/bin/python benchmarks/bench_load.py --sessions 25`` (``make bench``), or
``--url http://127.0.0.1:8080`` to load a running deployment (``make hall``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_client import Session  # noqa: E402

from tests.browser import streamlit_process  # noqa: E402

TAU = ["Restricted maximum likelihood (REML)", "DerSimonian-Laird (DL)", "Paule-Mandel (PM)",
       "Maximum likelihood (ML)", "Hedges (HE)", "Sidik-Jonkman (SJ)"]
CI = ["Wald z", "Hartung-Knapp (HKSJ)"]


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _student(url: str, seed: int, changes: int, think: float, limit: float,
                   out: dict) -> None:
    rng = random.Random(seed)
    combos = list(itertools.product(TAU, CI))
    rng.shuffle(combos)
    s = Session(url)
    await s.connect()
    try:
        out["first"].append(await s.rerun())
        stop = time.monotonic() + limit
        for t, c in itertools.islice(itertools.cycle(combos), changes):
            if time.monotonic() > stop:
                break
            if think:
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            out["change"].append(await s.rerun({"tau2_method": ("string_value", t),
                                                "ci_method": ("string_value", c)}))
    finally:
        await s.close()


async def _hall(url: str, sessions: int, changes: int, think: float, limit: float) -> dict:
    out: dict[str, list[float]] = {"first": [], "change": []}
    # Students arrive over a couple of seconds, as in a room.
    async def arrive(i: int) -> None:
        await asyncio.sleep(i * 0.08)
        await _student(url, i, changes, think, limit, out)
    await asyncio.gather(*(arrive(i) for i in range(sessions)))
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(url: str, pids: list[int], sessions: int, changes: int, think: float,
        limit: float) -> dict:
    cpu0, t0 = _cpu_seconds(pids) if pids else 0.0, time.monotonic()
    out = asyncio.run(_hall(url, sessions, changes, think, limit))
    wall = time.monotonic() - t0
    reruns = len(out["first"]) + len(out["change"])
    cpu = (_cpu_seconds(pids) - cpu0) if pids else float("nan")
    return {"sessions": sessions, "think": think, "reruns": reruns, "wall": wall,
            "median": statistics.median(out["change"]), "p95": _pct(out["change"], 0.95),
            "first_median": statistics.median(out["first"]),
            "cpu_per_rerun_ms": 1000 * cpu / reruns if pids else float("nan")}


def _print(r: dict) -> None:
    print(f"{r['sessions']:>3} sessions, think {r['think']:.1f} s: control change median "
          f"{r['median']:.3f} s, p95 {r['p95']:.3f} s; first load median "
          f"{r['first_median']:.2f} s; server CPU {r['cpu_per_rerun_ms']:.1f} ms/rerun "
          f"({r['reruns']} reruns in {r['wall']:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 25])
    ap.add_argument("--changes", type=int, default=24)
    ap.add_argument("--think", type=float, nargs="+", default=[1.0, 0.0])
    ap.add_argument("--limit", type=float, default=240.0)
    ap.add_argument("--url", help="load a running server or proxy instead of starting one")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; bundled BCG table (k = 13)")
    if args.url:
        for n, think in itertools.product(args.sessions, args.think):
            _print(run(args.url, [], n, args.changes, think, args.limit))
        return
    with streamlit_process() as (url, proc):
        # Warm the shared caches the way the first student of a lecture would.
        run(url, [proc.pid], 1, len(TAU) * len(CI), 0.0, args.limit)
        for n, think in itertools.product(args.sessions, args.think):
            _print(run(url, [proc.pid], n, args.changes, think, args.limit))


if __name__ == "__main__":
    main()
