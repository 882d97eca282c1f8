"""Page set-up: every page starts with :func:`setup`, so it also runs on its own."""

from __future__ import annotations

import streamlit as st

from ui import controls, persist, present, review, state

# A metric's value wraps at its spaces instead of ending in an ellipsis: "0.331 to 0.…" or
# "QE(11) = 30.…" on a 1280 px screen read as different numbers.
_STYLE = """<style>
[data-testid="stMetricValue"] > div, [data-testid="stMetricValue"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
</style>"""


def setup(ignored: dict[str, str] | None = None) -> None:
    """Initialise the session and draw the shared sidebar controls.

    ``ignored`` maps the keys of sidebar controls this page does not use to the reason;
    they are shown disabled, with the reasons, so no control seems to do nothing.
    """
    state.init()
    st.html(_STYLE)             # style only: Streamlit gives it no space on the page
    persist.start()
    present.start()             # ?present=1: a lecture link opens in presentation mode
    review.start()
    controls.sidebar(ignored or {})
    present.controls()
    persist.checkpoint()
    s = st.session_state
    # what the pages changed in a review outcome goes back into the review
    kept = review.sync()
    if kept:
        st.warning(kept, icon=":material/warning:")
    review.address()
    if s.get(persist.PENDING_LOAD):
        # on the page, where the upload, paste or open was asked for (the sidebar was far)
        controls.replace_question(s[persist.PENDING_LOAD]["label"], "load",
                                  persist.resolve_load)
    if s.get("_draft_restored"):
        # stays until the user decides, on whichever page they are
        c1, c2, c3 = st.columns([6, 1.4, 1], vertical_alignment="center")
        c1.info("Your work from before the reload is back (kept as a draft in this browser).",
                icon=":material/restore:")
        c2.button("Discard the draft", key="discard_draft", on_click=persist.discard_draft)
        c3.button("Keep it", key="keep_draft", on_click=s.pop, args=("_draft_restored", None))
    opened = s.pop("_open_message", None)
    if opened and not s.get("_draft_restored"):
        kind, text = opened
        (st.warning if kind == "warning" else st.info)(text, icon=":material/link:")
