"""Issue 25 in a real browser (Debian's Chromium, Playwright): import a RevMan 5 review,
enter risk of bias, confirm GRADE, download the whole-review report and open it offline
(every request that is not the file itself is aborted and counted: none may happen);
screenshots of the review page, the risk-of-bias plots, the forest plot with its
risk-of-bias columns and the summary-of-findings table at 1440 and 390 px (into /tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import ROOT, chromium_page, go_to, streamlit_server, wait_for_app

RM5 = ROOT / "tests" / "reference" / "revman" / "review_full.rm5"
SHOTS = Path("/tmp/review_shots")
ROBVIS = ("Study,D1,D2,D3,D4,D5,Overall\n"
          "Adams 1998,Low,Low,Low,Low,Low,Low\n"
          "Brown 2003,Low,Some concerns,Low,Low,Low,Some concerns\n"
          "Chen 2010,Low,High,Low,Some concerns,Low,High\n"
          "Diaz 2015,Low,Low,Low,Low,Low,Low\n")


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


def _settled(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def _flow(page, app_url: str, width: int, tmp_path: Path) -> None:
    page.goto(app_url)
    wait_for_app(page)
    if width < 640:     # a phone: the sidebar starts closed
        page.locator("[data-testid='stExpandSidebarButton'], "
                     "[data-testid='stSidebarCollapsedControl'] button").first.click()
        page.wait_for_timeout(500)
    go_to(page, "Review")
    page.get_by_text("Start a new review or import one").first.wait_for(timeout=60_000)
    _settled(page)
    if width < 640 and page.locator("[data-testid='stSidebar'][data-collapsed='false']").count():
        page.locator("[data-testid='stSidebarCollapseButton'] button").first.click(force=True)
        page.wait_for_timeout(500)
    page.locator(".st-key-review_file [data-testid='stFileUploaderDropzoneInput']") \
        .set_input_files(str(RM5))
    page.get_by_text("Imported").first.wait_for(timeout=60_000)
    _settled(page)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / f"review_page_{width}.png"), full_page=True)

    # risk of bias: a robvis table pasted for the first outcome (RoB 2, per result)
    page.get_by_role("tab", name="Risk of bias").click()
    _settled(page)
    page.locator(".st-key-rob_tool").wait_for()
    page.get_by_text("Or paste / upload a robvis table").first.click()
    area = page.locator(".st-key-rob_paste textarea")
    area.fill(ROBVIS)
    page.locator(".st-key-rob_paste_apply button").click()
    page.get_by_text("judgements read for 4 studies").first.wait_for(timeout=60_000)
    _settled(page)
    _no_exception(page)
    traffic = page.locator(".st-key-rob_traffic")
    traffic.locator("svg.marks").first.wait_for(timeout=30_000)
    traffic.screenshot(path=str(SHOTS / f"rob_traffic_{width}.png"))
    summary = page.locator(".st-key-rob_summary")
    summary.locator("svg.marks").first.wait_for(timeout=30_000)
    summary.screenshot(path=str(SHOTS / f"rob_summary_{width}.png"))
    page.get_by_text("Sensitivity analysis by risk of bias").first.wait_for()

    # GRADE: the suggestion is taken for risk of bias, then the rating confirmed
    page.get_by_role("tab", name="GRADE").click()
    _settled(page)
    takes = page.get_by_role("button", name="Take the suggestion")
    for i in range(takes.count()):
        if takes.nth(i).is_enabled():
            takes.nth(i).click()
            _settled(page)
    page.get_by_role("button", name="Confirm GRADE").click()
    page.get_by_text("GRADE confirmed for").first.wait_for(timeout=60_000)
    _no_exception(page)

    page.get_by_role("tab", name="Summary of findings").click()
    _settled(page)
    sof = page.locator(".st-key-sof_table_CMP_001")
    sof.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    sof.screenshot(path=str(SHOTS / f"sof_{width}.png"))

    if width >= 640:
        # one click opens an outcome in the analysis pages, which follow it
        page.get_by_role("tab", name="Comparisons & outcomes").click()
        _settled(page)
        page.locator(".st-key-open_CMP_001_05 button:visible").first.click()
        _settled(page)
        go_to(page, "Forest & heterogeneity")
        page.get_by_text("The common-effect estimate is MD \u22120.84").first.wait_for(
            timeout=60_000)
        shown = page.locator(".st-key-outcome").evaluate(
            "e => e.textContent + ' ' + [...e.querySelectorAll('input')]"
            ".map(i => i.value).join(' ')")
        assert "Length of stay" in shown, shown
        page.screenshot(path=str(SHOTS / f"forest_page_outcome_{width}.png"))
        go_to(page, "Review")
        page.get_by_role("tab", name="Report").wait_for(timeout=60_000)
        _settled(page)

    # the whole-review report: built, downloaded, opened with every outside request aborted
    page.get_by_role("tab", name="Report").click()
    _settled(page)
    page.locator(".st-key-build_review_report button").click()
    page.locator(".st-key-review_report button").wait_for(timeout=180_000)
    with page.expect_download(timeout=90_000) as download:
        page.locator(".st-key-review_report button").click()
    report = tmp_path / f"review_{width}.html"
    download.value.save_as(str(report))
    outside: list[str] = []

    def block(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.goto(report.as_uri())
    page.wait_for_timeout(800)
    assert page.get_by_text("Summary of findings: Corticosteroid versus placebo").count() >= 1
    assert page.get_by_text("Reproduce in R (metafor)").count() == 1
    assert page.locator(".forest svg").count() == 9
    assert outside == [], outside
    page.screenshot(path=str(SHOTS / f"report_{width}.png"), full_page=True)
    page.locator(".forest").first.screenshot(path=str(SHOTS / f"forest_rob_{width}.png"))
    page.unroute("**/*")


@pytest.mark.parametrize("width, height", [(1440, 1000), (390, 844)])
def test_review_import_rob_grade_report_offline(app_url, tmp_path, width, height):
    SHOTS.mkdir(exist_ok=True)
    with chromium_page(viewport=(width, height)) as page:
        _flow(page, app_url, width, tmp_path)
