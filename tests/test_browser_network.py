"""The Network and Dependence pages in a real browser (Debian's Chromium, Playwright):
no exception, the charts drawn, screenshots at desktop and phone widths for looking at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import metacore as mc
from tests.browser import CHART, chromium_page, go_to, streamlit_server

SHOTS = Path(os.environ.get("METACORE_SHOTS", "/tmp/metacore_shots"))


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def _settled(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0


def _open(page, url: str, title: str) -> None:
    """Open a page from the navigation, as a user does (on a phone: open the sidebar,
    choose, close it again)."""
    page.goto(url)
    page.wait_for_selector(CHART, timeout=60_000)
    phone = page.viewport_size["width"] < 600
    if phone:
        page.locator("[data-testid='stExpandSidebarButton']").first.click()
    go_to(page, title)
    _settled(page)
    collapse = page.locator("[data-testid='stSidebarCollapseButton'] button")
    if phone and collapse.count() and collapse.first.is_visible():
        collapse.first.click()


def _shoot(page, key: str, name: str) -> None:
    """Screenshot one keyed chart after it is drawn."""
    box = page.locator(f".st-key-box_{key}")
    box.scroll_into_view_if_needed()
    box.locator("canvas, svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(400)         # let Vega finish its first paint
    box.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("width", [1440, 390])
def test_network_page_draws_graph_league_and_ranking(app_url, width):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page(viewport=(width, 1000)) as page:
        _open(page, app_url, "Network meta-analysis")
        page.get_by_text("Network of treatments").first.wait_for(timeout=60_000)
        _settled(page)
        for key in ("nm_graph", "nm_forest", "nm_league", "nm_ranking", "nm_rankogram",
                    "nm_funnel"):
            _shoot(page, key, f"network_{key}_{width}")
        assert page.get_by_text("Rankings are easy to over-read").count() == 1
        # on a phone the league table scrolls sideways inside its box, it is not cut off
        box = page.locator(".st-key-box_nm_league")
        sizes = box.evaluate("e => [e.scrollWidth, e.clientWidth, getComputedStyle(e).overflowX]")
        assert sizes[2] == "auto"
        if width < 600:
            assert sizes[0] > sizes[1]
            box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
            page.wait_for_timeout(300)
            box.screenshot(path=str(SHOTS / f"network_nm_league_{width}_right.png"))
        else:
            assert sizes[0] <= sizes[1]
            # an uploaded arm-level file becomes the network
            csv = mc.datasets.load("hasselblad1998").to_csv(index=False).encode()
            page.get_by_role("tab", name="Upload a file").click()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(
                files=[{"name": "smoking.csv", "mimeType": "text/csv", "buffer": csv}])
            page.get_by_text("Current network: smoking.csv").first.wait_for(timeout=60_000)
            _settled(page)
            page.get_by_text("4 treatments, 24 studies").first.wait_for(timeout=60_000)


def test_dependence_page_on_the_nested_example(app_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page(viewport=(1440, 1000)) as page:
        _open(page, app_url, "Dependence")
        page.locator(".st-key-dep_example button").first.click()
        page.get_by_text("times as wide with the multilevel model").first.wait_for(
            timeout=60_000)
        _settled(page)
        page.screenshot(path=str(SHOTS / "dependence_top_1440.png"))
        for key in ("dep_table_chart", "dep_split", "dep_rho_chart"):
            _shoot(page, key, f"dependence_{key}_1440")
        assert "1.93 times as wide" in page.locator(
            "[data-testid='stAlertContentInfo']").first.inner_text()
