"""A lecture in presentation mode, in Debian's Chromium at 1920x1080 (issue 29): the reveal
stepped through by keyboard, chart text measured (>= 20 px, nothing clipped or overlapping),
and a read-only lecture link that students cannot change."""

from __future__ import annotations

from pathlib import Path

import metacore as mc
from metacore.store import open_store
from metacore.store.project import Project
from tests.browser import chromium_page, streamlit_server
from ui import state

SHOTS = Path("/tmp/teaching")
STEP = "[data-testid='stMarkdownContainer'] strong"

# Every text of every drawn chart: its computed font size, and whether it leaves its chart
# or overlaps another text of the same chart (boxes shrunk by 1 px: touching is not overlap).
_MEASURE = """() => {
  const out = {fonts: [], clipped: [], overlaps: [], charts: 0, widest: 0};
  for (const svg of document.querySelectorAll("[data-testid='stVegaLiteChart'] svg")) {
    out.charts += 1;
    const frame = svg.getBoundingClientRect();
    out.widest = Math.max(out.widest, frame.right);
    const boxes = [];
    for (const t of svg.querySelectorAll("text")) {
      if (!t.textContent.trim()) continue;
      const r = t.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      out.fonts.push(parseFloat(getComputedStyle(t).fontSize));
      if (r.left < frame.left - 1 || r.right > frame.right + 1 || r.top < frame.top - 1 ||
          r.bottom > frame.bottom + 1) out.clipped.push(t.textContent);
      boxes.push([t.textContent, r]);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, ra] = boxes[i], [b, rb] = boxes[j];
      // a text box is its line box (ascent + descent, about 1.2 em): compare the glyph band
      const ya = 0.15 * ra.height, yb = 0.15 * rb.height;
      if (ra.left + 1 < rb.right - 1 && rb.left + 1 < ra.right - 1 &&
          ra.top + ya < rb.bottom - yb && rb.top + yb < ra.bottom - ya)
        out.overlaps.push(a + " / " + b);
    }
  }
  return out;
}"""


def _settled(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_selector("[data-testid='stVegaLiteChart'] svg text", timeout=30_000)
    page.wait_for_timeout(300)


def _step_text(page) -> str:
    return page.locator(STEP).filter(has_text="Step ").first.inner_text()


def _check_charts(page, where: str) -> dict:
    got = page.evaluate(_MEASURE)
    assert got["charts"] >= 1, where
    assert min(got["fonts"]) >= 20, (where, sorted(got["fonts"])[:5])
    assert got["clipped"] == [], (where, got["clipped"])
    assert got["overlaps"] == [], (where, got["overlaps"])
    assert got["widest"] <= 1920, where
    return got


def test_a_lecture_in_presentation_mode_and_through_a_lecture_link():
    SHOTS.mkdir(exist_ok=True)
    db = open_store()           # the test session's database, which the server also opens
    aid, _ = db.save(Project(mc.datasets.load("seed000"), name="Lecture: doc 000",
                             settings={"measure": "GEN", "tau2_method": "DL",
                                       "ci_method": "z", state.DIRECTION: "desirable"},
                             example="seed000"))
    _, token = db.create_link(aid)
    with streamlit_server() as url, chromium_page((1920, 1080)) as page:
        page.goto(f"{url}/?present=1")
        _settled(page)
        assert not page.locator("section[data-testid='stSidebar']").is_visible()
        assert "Step 1 of 5" in _step_text(page)
        _check_charts(page, "step 1")
        page.screenshot(path=str(SHOTS / "lecture_step1.png"))
        keys = ["ArrowRight", " ", "ArrowRight", "PageDown"]
        for n, key in enumerate(keys, start=2):
            page.locator("body").press(key)
            page.wait_for_function(
                "([sel, n]) => [...document.querySelectorAll(sel)].some("
                "e => e.innerText.startsWith('Step ' + n + ' of'))", arg=[STEP, n],
                timeout=20_000)
            _settled(page)
            _check_charts(page, f"step {n}")
            page.screenshot(path=str(SHOTS / f"lecture_step{n}.png"))
        page.locator("body").press("ArrowLeft")
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)].some("
            "e => e.innerText.startsWith('Step 4 of'))", arg=STEP, timeout=20_000)
        assert page.locator("[data-testid='stException']").count() == 0
        # to the pooling page by the top row (the sidebar is away): still presenting
        page.locator("[data-testid='stPageLink'] a").filter(has_text="Pooling").first.click()
        page.get_by_text("No, partial and complete pooling").first.wait_for(timeout=30_000)
        _settled(page)
        assert not page.locator("section[data-testid='stSidebar']").is_visible()
        assert "present=1" in page.url
        _check_charts(page, "pooling page")

        # the lecture link: read-only, opens in presentation mode on the lecturer's analysis
        page.goto(f"{url}/?link={token}&present=1")
        _settled(page)
        assert "Step 1 of 4" in _step_text(page)         # ready-made effects: no causal step
        assert not page.locator("section[data-testid='stSidebar']").is_visible()
        page.locator("body").press("ArrowRight")
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)].some("
            "e => e.innerText.startsWith('Step 2 of'))", arg=STEP, timeout=20_000)
        _settled(page)
        text = page.locator("[data-testid='stMain']").inner_text()
        assert "Common effect 0.246 (SE 0.0465)" in text
        _check_charts(page, "link step 2")
        page.screenshot(path=str(SHOTS / "lecture_link.png"))
        assert page.locator("[data-testid='stException']").count() == 0

        # the documents' figures, projector-sized on their pages; each chart saved to look at
        for path in ("course", "shrinkage", "bayes", "causal"):
            page.goto(f"{url}/{path}?present=1")
            _settled(page)
            assert page.locator("[data-testid='stException']").count() == 0, path
            _check_charts(page, path)
            charts = page.locator("[data-testid='stVegaLiteChart']")
            for i in range(charts.count()):
                charts.nth(i).scroll_into_view_if_needed()
                charts.nth(i).screenshot(path=str(SHOTS / f"{path}_chart{i}.png"))
            if path == "course":        # doc 003's causal graph (drawn locally by Graphviz)
                dag = page.locator("[data-testid='stGraphVizChart'] svg").first
                dag.wait_for(timeout=20_000)
                dag.scroll_into_view_if_needed()
                assert "treatment" in dag.text_content()
                dag.screenshot(path=str(SHOTS / "course_dag.png"))
        page.goto(f"{url}/about?present=1")
        page.get_by_text("How each result is checked").first.wait_for(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SHOTS / "about.png"))
    project, version = db.load(aid)
    assert version == 1 and project.settings["tau2_method"] == "DL"

