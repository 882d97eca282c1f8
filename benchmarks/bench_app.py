"""In-browser timings of the dashboard (Debian Chromium driven by Playwright).

* page load -> first forest chart drawn (target: under 3 s)
* control change -> updated summary and chart (target: median under 0.5 s), toggling the
  pooling model between random effects and common effect, on the bundled BCG table
  (k = 13) and on the 80-trial table.

Run: ``.venv/bin/python benchmarks/bench_app.py`` (needs /usr/bin/chromium; ``make bench``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metacore.models.tau2 import TAU2_LABELS  # noqa: E402
from tests.browser import (  # noqa: E402
    CHART,
    SUMMARY,
    chromium_page,
    streamlit_server,
    wait_for_app,
)

IDLE = ("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0 && "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')")


def _settle(page) -> None:
    page.wait_for_function(IDLE, timeout=30_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _toggle_times(page, n: int) -> list[float]:
    times = []
    for i in range(n):
        target = "Common effect" if i % 2 == 0 else "Random effects"
        phrase = "common-effect estimate" if i % 2 == 0 else "random-effects estimate"
        t0 = time.perf_counter()
        page.get_by_text(target, exact=True).first.click()
        page.wait_for_function("([s, p]) => document.querySelector(s).innerText.includes(p)",
                               arg=[SUMMARY, phrase], timeout=30_000)
        _settle(page)
        times.append(time.perf_counter() - t0)
    return times


def _cold_times(page) -> list[float]:
    """Each tau^2 estimator once: states the app has not computed before (no cache hit)."""
    times = []
    names = {m: f"{label} ({m})" for m, label in TAU2_LABELS.items() if m != "REML"}
    if "random-effects" not in page.locator(SUMMARY).first.inner_text():
        page.get_by_text("Random effects", exact=True).first.click()
        page.wait_for_function("s => document.querySelector(s).innerText.includes('random-')",
                               arg=SUMMARY, timeout=30_000)
        _settle(page)
    for label in names.values():
        page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").nth(2).click()
        t0 = time.perf_counter()
        page.get_by_role("option", name=label).click()
        # The settings line under the summary names the estimator in force.
        page.wait_for_function("t => document.querySelector('[data-testid=\"stMain\"]')"
                               ".innerText.includes(t)", arg=f"τ²: {label}", timeout=30_000)
        _settle(page)
        times.append(time.perf_counter() - t0)
    return times


def _choose_dataset(page, title: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=title).click()
    page.wait_for_timeout(300)
    _settle(page)
    wait_for_app(page)


def main(n: int = 15) -> None:
    with streamlit_server() as url, chromium_page() as page:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(CHART, timeout=60_000)
        first = time.perf_counter() - t0
        loads = []
        for _ in range(3):   # a new visitor each time: fresh browser context, empty cache
            fresh = page.context.browser.new_context().new_page()
            t0 = time.perf_counter()
            fresh.goto(url)
            fresh.wait_for_selector(CHART, timeout=60_000)
            loads.append(time.perf_counter() - t0)
            fresh.context.close()
        _settle(page)
        print(f"Page load to first chart (new visitor, empty browser cache): median "
              f"{statistics.median(loads):.2f} s (runs: {', '.join(f'{x:.2f}' for x in loads)}); "
              f"very first load after the server starts: {first:.2f} s (Python imports)")
        for title, label in (("BCG vaccine and tuberculosis (13 trials)", "BCG, k = 13"),
                             ("Simulated trials (80 trials)", "simulated, k = 80")):
            _choose_dataset(page, title)
            times = sorted(_toggle_times(page, n))
            p90 = times[int(0.9 * (len(times) - 1))]
            print(f"Control change to updated chart, {label}: median "
                  f"{statistics.median(times) * 1e3:.0f} ms, p90 {p90 * 1e3:.0f} ms "
                  f"(model toggled, n = {n})")
            cold = sorted(_cold_times(page))
            print(f"  first visit of a state (each tau^2 estimator once): median "
                  f"{statistics.median(cold) * 1e3:.0f} ms, max {cold[-1] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
