"""The whole app in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import pytest

from tests.browser import CHART, ROOT, SUMMARY, chromium_page, streamlit_server, wait_for_app

SHOTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def test_forest_page_then_every_page_then_a_control_change(app_url):
    SHOTS.mkdir(exist_ok=True)
    with chromium_page() as page:
        page.goto(app_url)
        wait_for_app(page)
        assert page.locator(CHART).count() >= 1
        summary = page.locator(SUMMARY).first.inner_text()
        assert "random-effects estimate is RR 0.49" in summary
        page.screenshot(path=str(SHOTS / "browser_forest.png"))

        for title, shot in (("Data", "browser_data"), ("Estimators & sensitivity",
                                                        "browser_sensitivity"),
                            ("Pooling & shrinkage", "browser_shrinkage"),
                            ("Bayesian", "browser_bayes"),
                            ("Classical vs causal", "browser_causal"),
                            ("Many meta-analyses", "browser_many"),
                            ("Causal simulation", "browser_simulation"),
                            ("About & methods", "browser_about"),
                            ("Forest & heterogeneity", "browser_forest_again")):
            page.get_by_role("link", name=title).click()
            page.wait_for_timeout(300)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
            assert page.locator("[data-testid='stException']").count() == 0, title
            page.screenshot(path=str(SHOTS / f"{shot}.png"))

        # A control change re-renders: switch to the common-effect model.
        wait_for_app(page)
        page.get_by_text("Common effect", exact=True).first.click()
        page.wait_for_function(
            "s => document.querySelector(s).innerText.includes('common-effect estimate')",
            arg=SUMMARY, timeout=15_000)
        assert "common-effect estimate is RR 0.65" in page.locator(SUMMARY).first.inner_text()
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_common_effect.png"))


def test_uploads_in_the_browser(app_url):
    """A malformed upload gets a message; a good one (decimal commas) becomes the table."""
    SHOTS.mkdir(exist_ok=True)
    with chromium_page() as page:
        page.goto(app_url)
        wait_for_app(page)
        page.get_by_role("link", name="Data").click()
        uploader = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
        uploader.set_input_files(files=[{"name": "broken.xlsx", "mimeType":
                                         "application/octet-stream", "buffer": b"not excel"}])
        page.get_by_text("The Excel file could not be read").first.wait_for(timeout=20_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_bad_upload.png"))
        good = b"study;yi;sei\nA;0,20;0,10\nB;0,35;0,12\nC;0,05;0,08\nD;oops;0,1\n"
        uploader.set_input_files(files=[{"name": "mine.csv", "mimeType": "text/csv",
                                         "buffer": good}])
        page.get_by_text("Current table: mine.csv").first.wait_for(timeout=20_000)
        page.get_by_text("give no estimate").first.wait_for(timeout=20_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_good_upload.png"))


def test_causal_pages_in_the_browser(app_url):
    """Target-population what-if, and uploads of a long table (malformed, then good)."""
    import metacore as mc

    with chromium_page() as page:
        page.goto(app_url)
        wait_for_app(page)
        page.get_by_role("link", name="Classical vs causal").click()
        metric = page.locator("[data-testid='stMetric']").filter(has_text="Causal RR")
        metric.first.wait_for(timeout=20_000)
        pooled = metric.first.inner_text()
        page.get_by_text("An equal mix of the trial populations").click()
        page.wait_for_function("([sel, old]) => { const m = [...document.querySelectorAll(sel)]"
                               ".find(e => e.innerText.includes('Causal RR'));"
                               " return m && m.innerText !== old; }",
                               arg=["[data-testid='stMetric']", pooled], timeout=20_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_causal_equal.png"))

        page.get_by_role("link", name="Many meta-analyses").click()
        uploader = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
        uploader.wait_for(state="attached", timeout=20_000)
        uploader.set_input_files(files=[{"name": "bad.csv", "mimeType": "text/csv",
                                         "buffer": b"meta_id,foo\nA,1\nB,2\n"}])
        page.get_by_text("No study columns were recognised").first.wait_for(timeout=20_000)
        long = mc.datasets.load("bcg").assign(meta_id=lambda d: d["subgroup"])
        uploader.set_input_files(files=[{"name": "long.csv", "mimeType": "text/csv",
                                         "buffer": long.to_csv(index=False).encode()}])
        page.get_by_text("Table: long.csv").first.wait_for(timeout=20_000)
        page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=20_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_many_upload.png"))
