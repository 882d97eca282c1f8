"""Presentation mode: the app as the lecture (issue 29).

On (toggle ``present`` in the sidebar, or ``?present=1`` in a link): the sidebar folds away,
text is projector-sized, every chart is drawn through one presentation config
(:func:`projector_spec`: all its pixel sizes scaled, fonts at least :data:`MIN_FONT` px),
and the keyboard (→, space, PageDown / ←, PageUp) steps through the reveal of the current
page by clicking its hidden next / previous buttons. Nothing here makes an outside request.
"""

from __future__ import annotations

import copy
import functools

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitPageNotFoundError

#: Session keys: the mode, and the step of the reveal shown.
PRESENT, STEP = "present", "present_step"
#: Every pixel size of a chart is multiplied by this (areas by its square) ...
SCALE = 2.0
#: ... and no chart text is smaller than this (px), readable from the back of a room.
MIN_FONT = 20

# Keys holding a length in pixels, and keys holding an area in square pixels (mark sizes).
_PX = frozenset({
    "width", "height", "fontSize", "labelFontSize", "titleFontSize", "subtitleFontSize",
    "labelLimit", "titleLimit", "limit", "dx", "dy", "labelPadding", "titlePadding", "offset",
    "labelOffset", "tickSize", "padding", "step", "strokeWidth", "xOffset", "yOffset",
    "symbolStrokeWidth", "gradientLength", "gradientThickness", "columnPadding", "rowPadding",
    "spacing", "subtitlePadding", "thickness", "size"})
_AREA = frozenset({"symbolSize"})
_FONT = frozenset({"fontSize", "labelFontSize", "titleFontSize", "subtitleFontSize"})
# Where numbers are data, not pixels.
_DATA = frozenset({"data", "datasets", "domain", "values", "scale", "sort", "condition",
                   "transform", "params", "selection"})
# Vega's defaults, which a spec relies on when it sets no size: scaled like the rest.
_DEFAULTS = {"axis": {"labelFontSize": 10, "titleFontSize": 11},
             "legend": {"labelFontSize": 10, "titleFontSize": 11},
             "header": {"labelFontSize": 10, "titleFontSize": 11},
             "title": {"fontSize": 13, "subtitleFontSize": 10},
             "text": {"fontSize": 11}}


def _scaled(key: str, value: float, mark: str | None) -> float:
    if key == "size" and mark not in (None, "text", "tick", "bar", "rule"):
        return value * SCALE ** 2           # a point's size is its area
    if key in _AREA:
        return value * SCALE ** 2
    value = value * SCALE
    return max(value, MIN_FONT) if key in _FONT else value


def _walk(node, mark: str | None = None):
    if isinstance(node, list):
        return [_walk(v, mark) for v in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("mark"), str):
        mark = node["mark"]
    elif isinstance(node.get("mark"), dict):
        mark = node["mark"].get("type", mark)
    elif "type" in node and isinstance(node["type"], str) and "mark" not in node:
        mark = node["type"] if node["type"] in ("point", "circle", "square", "text", "tick",
                                                 "bar", "rule", "line", "area") else mark
    out = {}
    for key, value in node.items():
        if key in _DATA:
            out[key] = value
        elif key in (_PX | _AREA) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            out[key] = _scaled(key, value, mark)
        elif key in (_PX | _AREA) and isinstance(value, dict) \
                and isinstance(value.get("value"), (int, float)):
            out[key] = {**value, "value": _scaled(key, value["value"], mark)}
        elif key == "size" and isinstance(value, dict):     # a size channel by weight
            channel = dict(value)
            rng = channel.get("scale", {}).get("range") if isinstance(
                channel.get("scale"), dict) else None
            if isinstance(rng, list) and all(isinstance(v, (int, float)) for v in rng):
                channel["scale"] = {**channel["scale"], "range": [v * SCALE ** 2 for v in rng]}
            out[key] = channel
        else:
            out[key] = _walk(value, mark)
    return out


def projector_spec(spec: dict) -> dict:
    """A Vega-Lite spec drawn for a projector: every pixel size times :data:`SCALE` (areas
    times its square), so the layout keeps its proportions, and every font at least
    :data:`MIN_FONT` px, including Vega's defaults the spec relies on. Drawn as SVG, so a
    browser can measure the text.

    >>> spec = projector_spec({"mark": {"type": "text", "fontSize": 9}, "width": 300,
    ...                        "encoding": {"x": {"scale": {"domain": [0, 5]}}}})
    >>> spec["mark"]["fontSize"], spec["width"], spec["encoding"]["x"]["scale"]["domain"]
    (20, 600.0, [0, 5])
    >>> spec["config"]["axis"]["labelFontSize"]
    20
    """
    out = _walk(copy.deepcopy(spec))
    # room at the edges: a 26-px title set flush with the top would touch the frame
    out.setdefault("padding", {"top": 12, "bottom": 12, "left": 12, "right": 12})
    config = out.setdefault("config", {})
    for group, sizes in _DEFAULTS.items():
        part = config.setdefault(group, {})
        for key, size in sizes.items():
            part.setdefault(key, max(round(size * SCALE), MIN_FONT))
    for part in config.values():            # an explicit config font below the minimum
        if isinstance(part, dict):
            for key in _FONT & part.keys():
                if isinstance(part[key], (int, float)):
                    part[key] = max(part[key], MIN_FONT)
    meta = out.setdefault("usermeta", {})
    meta["embedOptions"] = {**meta.get("embedOptions", {}), "renderer": "svg"}
    return out


def on() -> bool:
    """True in presentation mode."""
    return bool(st.session_state.get(PRESENT, False))


# --- one place for every chart ------------------------------------------------------------

def _install() -> None:
    """Route every page's charts through :func:`projector_spec` when presentation mode is
    on (per session: the wrapper asks the session each time), so no page needs its own."""
    original = DeltaGenerator.vega_lite_chart
    if getattr(original, "_metacore_present", False):
        return

    @functools.wraps(original)
    def vega_lite_chart(self, data=None, spec=None, *args, **kwargs):
        try:
            present = on()
        except Exception:   # noqa: BLE001 - outside a session (bare mode): nothing to scale
            present = False
        if present:
            if spec is None and isinstance(data, dict):
                data = projector_spec(data)
            elif spec is None and hasattr(data, "to_dict"):
                data = projector_spec(data.to_dict(validate=False))
            elif isinstance(spec, dict):
                spec = projector_spec(spec)
            # full width: the chart keeps its own (scaled) size, centred as a slide
            kwargs["width"] = "content"
        return original(self, data, spec, *args, **kwargs)

    vega_lite_chart._metacore_present = True
    DeltaGenerator.vega_lite_chart = vega_lite_chart
    # st.vega_lite_chart is the main container's method, bound when streamlit was imported
    st.vega_lite_chart = vega_lite_chart.__get__(st._main)


_install()


# --- the mode and its controls ----------------------------------------------------------

_STYLE = """<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], header[data-testid="stHeader"] { display: none !important; }
.stMainBlockContainer, [data-testid="stMainBlockContainer"] {
  max-width: 100% !important; padding: 0.5rem 2.5rem 1.5rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], [data-testid="stMetricValue"], [data-testid="stAlert"] p,
[data-testid="stTable"] td, [data-testid="stTable"] th, .stButton button p, label p {
  font-size: 26px !important; line-height: 1.4 !important; }
h1 { font-size: 44px !important; padding: 0.2rem 0 !important; }
h2, h3 { font-size: 36px !important; }
.katex { font-size: 2em !important; }
[data-testid="stVegaLiteChart"] { overflow: visible !important; }
</style>"""

# Key listener: → / space / PageDown click the hidden "next" button, ← / PageUp "previous";
# not while typing in a field. Registered once per browser tab.
_KEYS = """<script>
(() => {
  const w = window.parent && window.parent.document ? window.parent : window;
  if (w.__metacorePresentKeys) return;
  w.__metacorePresentKeys = true;
  w.document.addEventListener("keydown", (e) => {
    const t = e.target, tag = (t && t.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || (t && t.isContentEditable)) return;
    let key = null;
    if (["ArrowRight", "PageDown", " "].includes(e.key)) key = "present_next";
    if (["ArrowLeft", "PageUp"].includes(e.key)) key = "present_prev";
    if (!key) return;
    const b = w.document.querySelector(".st-key-" + key + " button");
    if (!b) return;
    e.preventDefault();
    b.click();
  });
})();
</script>"""


#: The pages a lecture moves between, linked on top in presentation mode.
LECTURE_PAGES = (("pages/forest.py", "Forest"), ("pages/shrinkage.py", "Pooling"),
                 ("pages/bayes.py", "Bayesian"), ("pages/causal.py", "Causal"),
                 ("pages/course.py", "Course notes"))


def _leave() -> None:
    st.session_state[PRESENT] = False


def start() -> None:
    """Once per session, ``?present=1`` turns the mode on; afterwards the address follows the
    toggle, so a reload keeps the lecture in presentation mode."""
    s = st.session_state
    if not s.get("_present_read"):
        s["_present_read"] = True
        if st.query_params.get("present") == "1":
            s[PRESENT] = True
    if PRESENT in s:        # kept across a page switch (Streamlit forgets a widget's value
        s[PRESENT] = s[PRESENT]     # when another page's script draws it)
    if on():
        st.query_params["present"] = "1"
    elif "present" in st.query_params:
        del st.query_params["present"]


def controls() -> None:
    """The toggle (sidebar), and in the mode: its style, the key listener and a way out."""
    st.sidebar.toggle("Presentation mode", key=PRESENT,
                      help="For a projector: no sidebar, large text and charts, and the "
                           "keyboard (→, space / ←) steps through the forest plot and "
                           "pooling reveals. Also ?present=1 in a link.")
    if not on():
        return
    st.html(_STYLE)
    st.html(_KEYS, unsafe_allow_javascript=True)
    # the sidebar is away: the lecture's pages and the way out sit in one row on top
    cols = st.columns([1.3] + [1] * len(LECTURE_PAGES), vertical_alignment="center")
    cols[0].button("Leave presentation mode", key="present_leave", on_click=_leave,
                   icon=":material/close_fullscreen:", type="tertiary")
    for col, (path, label) in zip(cols[1:], LECTURE_PAGES, strict=True):
        try:
            col.page_link(path, label=label)
        except StreamlitPageNotFoundError:  # a page run on its own (tests): no navigation
            pass


# --- step-by-step reveal ----------------------------------------------------------------

def _move(by: int, count: int) -> None:
    s = st.session_state
    s[STEP] = min(max(int(s.get(STEP, 0)) + by, 0), count - 1)


def stepper(names: list[str]) -> int:
    """Previous / next controls over ``names`` (the keyboard clicks them in presentation
    mode); returns the index of the step to show."""
    s = st.session_state
    count = len(names)
    step = min(max(int(s.get(STEP, 0)), 0), count - 1)
    s[STEP] = step
    c1, c2, c3 = st.columns([1, 6, 1], vertical_alignment="center")
    c1.button("◀ Previous", key="present_prev_shown", on_click=_move, args=(-1, count),
              disabled=step == 0, width="stretch")
    c2.markdown(f"**Step {step + 1} of {count}: {names[step]}** "
                + ("— → or space for the next step" if on() else ""))
    c3.button("Next ▶", key="present_next_shown", on_click=_move, args=(1, count),
              disabled=step == count - 1, width="stretch")
    # hidden twins for the keyboard: always enabled, so a key press never finds none
    st.html("<style>.st-key-present_prev, .st-key-present_next { display: none; }</style>")
    st.button("previous", key="present_prev", on_click=_move, args=(-1, count))
    st.button("next", key="present_next", on_click=_move, args=(1, count))
    return step
