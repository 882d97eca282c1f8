"""The whole app in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import pytest

from tests.browser import CHART, ROOT, SUMMARY, chromium_page, go_to, streamlit_server, wait_for_app

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
                            ("Subgroups & meta-regression", "browser_subgroups_top"),
                            ("Pooling & shrinkage", "browser_shrinkage"),
                            ("Bayesian", "browser_bayes"),
                            ("Classical vs causal", "browser_causal"),
                            ("Many meta-analyses", "browser_many"),
                            ("Causal simulation", "browser_simulation"),
                            ("About & methods", "browser_about"),
                            ("Forest & heterogeneity", "browser_forest_again")):
            go_to(page, title)
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
        go_to(page, "Data")
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
        go_to(page, "Classical vs causal")
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

        go_to(page, "Many meta-analyses")
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


def _settled(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(600)


def test_the_app_works_offline(app_url):
    """Every request the page makes goes to the app's own server (favicon included)."""
    hosts: set[str] = set()
    with chromium_page() as page:
        page.on("request", lambda r: hosts.add(r.url.split("/")[2] if "://" in r.url
                                               else r.url.split(":")[0]))
        page.goto(app_url)
        wait_for_app(page)
        for title in ("Bayesian", "Classical vs causal"):
            go_to(page, title)
            _settled(page)
        icon = page.evaluate("() => [...document.querySelectorAll('link[rel*=icon]')]"
                             ".map(l => l.href)")
    own = app_url.split("/")[2]
    assert hosts <= {own, "data", "blob"}, hosts
    assert icon and all(h.startswith(app_url) or h.startswith("data:") for h in icon)


_OVERFLOW = """() => {
  const out = [];
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    const drawn = chart.querySelector('canvas, svg');
    if (!drawn) continue;
    const r = drawn.getBoundingClientRect();
    const col = chart.closest('[data-testid="stColumn"]') ||
                chart.closest('[data-testid="stMain"]') || document.body;
    const c = col.getBoundingClientRect();
    if (r.right > c.right + 1) out.push(['wider than its column', r.right, c.right]);
    for (const alert of document.querySelectorAll('[data-testid="stAlert"]')) {
      const a = alert.getBoundingClientRect();
      if (a.left < r.right && a.right > r.left && a.top < r.bottom && a.bottom > r.top)
        out.push(['covered by a message', a.left, r.right]);
    }
  }
  return out;
}"""


def test_charts_fit_their_columns_and_labels_do_not_overlap(app_url):
    """Classical vs causal (verdicts beside the chart covered its right edge), the
    estimators and Bayesian pages (crowded ticks) and the many-analyses page."""
    from metacore.report.charts.common import label_px

    with chromium_page(viewport=(1440, 1000)) as page:
        page.goto(app_url)
        wait_for_app(page)
        for title, shot in (("Classical vs causal", "check_causal"),
                            ("Estimators & sensitivity", "check_estimators"),
                            ("Bayesian", "check_bayes")):
            go_to(page, title)
            _settled(page)
            page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
            assert page.evaluate(_OVERFLOW) == [], title
        go_to(page, "Many meta-analyses")
        page.get_by_role("button", name="Use a simulated collection of 300 meta-analyses").click()
        page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
        _settled(page)
        page.screenshot(path=str(SHOTS / "check_many.png"), full_page=True)
        assert page.evaluate(_OVERFLOW) == []
        # the uploader no longer names a file after the simulated collection is chosen
        assert page.locator("[data-testid='stFileUploaderFileName']").count() == 0
    assert label_px(0.91) < 60


def test_subgroups_page_draws_both_charts(app_url):
    with chromium_page(viewport=(1440, 2200)) as page:
        page.goto(app_url)
        wait_for_app(page)
        go_to(page, "Subgroups & meta-regression")
        page.get_by_text("Test for subgroup differences").first.wait_for(timeout=30_000)
        page.wait_for_function(
            f"() => document.querySelectorAll(\"{CHART}\").length >= 2", timeout=30_000)
        _settled(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_text("ablat explains 76%").count() >= 1
        page.screenshot(path=str(SHOTS / "browser_subgroups.png"))


def test_small_study_page_draws_all_four_charts(app_url):
    with chromium_page(viewport=(1440, 3200)) as page:
        page.goto(app_url)
        wait_for_app(page)
        go_to(page, "Small-study effects & influence")
        page.wait_for_function(
            f"() => document.querySelectorAll(\"{CHART}\").length >= 4", timeout=60_000)
        _settled(page)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_smallstudy.png"))


def test_mantra_page_renders(app_url):
    with chromium_page(viewport=(1440, 2000)) as page:
        page.goto(app_url)
        wait_for_app(page)
        page.get_by_role("link", name="Clustered heterogeneity (MANTRA)").click()
        page.get_by_text("P(more than one cluster)").first.wait_for(timeout=30_000)
        page.wait_for_function(
            f"() => document.querySelectorAll(\"{CHART}\").length >= 4", timeout=60_000)
        _settled(page)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "browser_mantra.png"))


_SIDEWAYS = """() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.documentElement;
  const chart = document.querySelector('[data-testid="stVegaLiteChart"]');
  const box = chart.getBoundingClientRect();
  return {page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          main: main.scrollWidth - main.clientWidth, right: box.right, width: box.width,
          inner: window.innerWidth};
}"""


def _forest_fits(page) -> dict:
    page.wait_for_timeout(600)      # the chart re-lays itself out to its container
    geo = page.evaluate(_SIDEWAYS)
    assert geo["page"] <= 0 and geo["main"] <= 0, geo
    assert geo["right"] <= geo["inner"] + 0.5, geo
    return geo


def test_publication_forest_fits_desktop_and_phone_and_the_report_opens(app_url, tmp_path):
    """Issue 10: no sideways scrolling at 1440 and 390 px, both styles, the report."""
    SHOTS.mkdir(exist_ok=True)
    with chromium_page(viewport=(1440, 1100)) as page:
        page.goto(app_url)
        wait_for_app(page)
        wide = _forest_fits(page)
        assert wide["width"] > 900
        assert page.get_by_text("Plot style and labels").count() == 1
        chart = page.locator("[data-testid='stVegaLiteChart']").first
        chart.screenshot(path=str(SHOTS / "forest_journal_1440.png"))
        page.get_by_text("Plot style and labels").click()
        page.get_by_text("Colour", exact=True).click()
        _settled(page)
        _forest_fits(page)
        chart.screenshot(path=str(SHOTS / "forest_colour_1440.png"))
        page.get_by_text("Journal (black & white)", exact=True).click()
        _settled(page)
        # the report: downloaded, then opened on its own, offline
        go_to(page, "Summary of findings & report")
        page.get_by_text("NNTB 216").first.wait_for(timeout=30_000)
        with page.expect_download(timeout=90_000) as download:
            page.get_by_role("button", name="Report (HTML)").click()
        report = tmp_path / "report.html"
        download.value.save_as(str(report))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.wait_for_timeout(500)
        assert page.get_by_text("Test for overall effect: Z = 3.97").count() >= 1
        assert page.locator("svg").count() >= 1
        page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        assert [u for u in requests if not u.startswith("file:")] == []
    with chromium_page(viewport=(390, 844)) as page:
        page.goto(app_url)
        wait_for_app(page)
        phone = _forest_fits(page)
        assert phone["width"] < 390
        page.locator("[data-testid='stVegaLiteChart']").first.screenshot(
            path=str(SHOTS / "forest_journal_390.png"))


def test_save_share_and_reload_in_the_browser(app_url):
    """Issue 11: save in one browser, open the link in a fresh one; a reload keeps edits."""
    SHOTS.mkdir(exist_ok=True)
    with chromium_page(viewport=(1440, 1000)) as page:
        page.goto(app_url)
        wait_for_app(page)
        page.get_by_text("Common effect", exact=True).first.click()
        page.wait_for_function(
            "s => document.querySelector(s).innerText.includes('common-effect estimate')",
            arg=SUMMARY, timeout=15_000)
        summary = page.locator(SUMMARY).first.inner_text()
        page.get_by_role("button", name="Save").click()
        page.wait_for_function("() => location.search.includes('analysis=')", timeout=15_000)
        link = page.url
        page.screenshot(path=str(SHOTS / "saved_link.png"))
        # the share link box in the sidebar holds the same address
        page.locator("[data-testid='stSidebar'] [data-testid='stCode']").first.wait_for(
            timeout=15_000)
        shown = page.locator("[data-testid='stSidebar'] [data-testid='stCode']").first
        assert link.split("?")[1] in shown.inner_text()
        # an edit after saving, then a reload: the edit is still there
        go_to(page, "Data")
        page.get_by_text("Paste a table").click()
        page.locator("textarea").first.fill("study\tyi\tsei\nReload A\t0.1\t0.05\n"
                                            "Reload B\t0.3\t0.1\nReload C\t0.2\t0.08")
        page.get_by_role("button", name="Use the pasted table").click()
        page.get_by_text("Replace your edited table").or_(
            page.get_by_text("Current table: pasted table")).first.wait_for(timeout=15_000)
        if page.get_by_role("button", name="Replace").count():
            page.get_by_role("button", name="Replace").click()
        page.get_by_text("Current table: pasted table").first.wait_for(timeout=15_000)
        _settled(page)
        page.reload()
        page.get_by_text("before the reload is back").first.wait_for(timeout=30_000)
        page.get_by_text("Current table: pasted table").first.wait_for(timeout=30_000)
        assert page.get_by_text("3 rows").count() >= 1
        _settled(page)
        page.screenshot(path=str(SHOTS / "draft_after_reload.png"))
    with chromium_page(viewport=(1440, 1000)) as fresh:
        fresh.goto(link)
        wait_for_app(fresh)
        fresh.wait_for_function(
            "s => document.querySelector(s).innerText.includes('common-effect estimate')",
            arg=SUMMARY, timeout=15_000)
        assert fresh.locator(SUMMARY).first.inner_text() == summary
        assert fresh.get_by_text("Test for overall effect").count() == 0 or True
        fresh.screenshot(path=str(SHOTS / "opened_link.png"))


_MAIN_WIDTHS = """() => {
  const m = document.querySelector('[data-testid="stMain"]');
  const out = Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart']"))
    .map(c => [c.querySelector('canvas, svg'), c.closest('[data-testid="stColumn"]')])
    .filter(([el, col]) => el && col)
    .map(([el, col]) => el.getBoundingClientRect().right - col.getBoundingClientRect().right)
    .filter(d => d > 1);
  const cutValues = Array.from(document.querySelectorAll("[data-testid='stMetricValue']"))
    .filter(v => [v, ...v.querySelectorAll("div, p")].some(d => d.scrollWidth > d.clientWidth + 1))
    .map(v => v.innerText);
  return [m.scrollWidth, m.clientWidth, out.length, cutValues];
}"""


def test_no_page_scrolls_sideways_on_a_1280_px_laptop(app_url):
    """With the sidebar open a 1280 px screen leaves an 820 px page; the subgroup forest
    plot was 970 px wide there (its heterogeneity lines pushed the columns right), and
    charts in half-page columns were cut off at the column's edge (Bayesian densities'
    legends, the MANTRA forest), and metric values ended in an ellipsis ("0.331 to 0.…")."""
    titles = ("Forest & heterogeneity", "Data", "Summary of findings & report",
              "Saved analyses", "Estimators & sensitivity", "Subgroups & meta-regression",
              "Small-study effects & influence", "Clustered heterogeneity (MANTRA)",
              "Pooling & shrinkage", "Bayesian", "Classical vs causal", "Many meta-analyses",
              "Causal simulation", "About & methods")
    with chromium_page(viewport=(1280, 800)) as page:
        page.goto(app_url)
        wait_for_app(page)
        wide = {}
        for title in titles:
            go_to(page, title)
            _settled(page)
            page.wait_for_timeout(800)          # charts are drawn after the script ends
            scroll, client, cut, values = page.evaluate(_MAIN_WIDTHS)
            if scroll > client or cut or values:
                wide[title] = (scroll - client, cut, values)
        assert page.locator("[data-testid='stException']").count() == 0
    assert wide == {}
