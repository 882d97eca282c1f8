"""Small display helpers shared by pages."""

from __future__ import annotations

import html
import io
import json
import math

import altair as alt
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.numbers import format_effect, format_p
from metacore.report import render
from ui import state
from ui.analysis import Analysis, current
from ui.cache import cached
from ui.text import md


def show_problems(analysis: Analysis, *, expanded: bool = False) -> None:
    """Name every row that is not in the analysis, with its reason."""
    if analysis.effects is None or not analysis.effects.excluded:
        return
    eff = analysis.effects
    user = [e for e in eff.excluded if "left out by the user" in e.reason]
    bad = [e for e in eff.excluded if "left out by the user" not in e.reason]
    if bad:
        with st.expander(f":material/warning: {len(bad)} row(s) give no estimate and are "
                         "not in the analysis", expanded=expanded):
            st.dataframe(pd.DataFrame(
                [{"row": r.split(":", 1)[0].replace("row ", ""), "study": s,
                  "reason": r.split(": ", 1)[-1]} for s, r in bad]),
                hide_index=True, width="stretch")
    if user:
        st.caption("Left out by you: " + ", ".join(md(s) for s, _ in user))


def error_box(analysis: Analysis, *, on_data_page: bool = False) -> bool:
    """Show the analysis error, if any; True when the page should stop."""
    if analysis.error:
        st.error(md(analysis.error), icon=":material/error:")
        if not on_data_page:
            st.info("Open the **Data** page to check the table and the column mapping.")
        return True
    return False


def analysis_or_stop() -> Analysis:
    """The current analysis; if it failed, show why and stop the page here."""
    result = current()
    if error_box(result):
        st.stop()
    return result


def settings_line(res: mc.PoolResult) -> str:
    """The settings in force, written beside every result."""
    return f"Settings: {res.settings}. Measure: {mc.MEASURE_LABELS[res.measure]}."


def fmt_num(x: float, digits: int = 3) -> str:
    """Number for tables and metrics ('n/a' when undefined)."""
    return format_effect(x, digits) if x is not None and math.isfinite(x) else "n/a"


#: Column names that hold p-values in the tables the pages show.
P_COLUMNS = ("p", "pvalue", "p-value", "q_pvalue")


def rounded(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """A table for display: numbers to ``digits`` decimals, p-values as text that never
    reads 0 or 1 ("< 0.0001"; a p of 7e-5 rounded to four decimals read "p = 0")."""
    out = frame.round(digits)
    for col in out.columns:
        if str(col).lower() in P_COLUMNS:
            out[col] = [format_p(float(v)) for v in frame[col]]
    return out


@cached(max_entries=16)
def chart_image(spec_json: str, fmt: str, dpi: float | None = None) -> bytes:
    """PNG (2x, or at ``dpi``) or SVG of a chart, rendered in a child process."""
    return render.to_image(json.loads(spec_json), fmt, scale=2.0, dpi=dpi)


def chart_downloads(chart: alt.TopLevelMixin | dict, stem: str, key: str,
                    label: str = "Forest plot", dpi: float | None = None) -> None:
    """PNG and SVG download buttons; images are rendered only when clicked."""
    spec = json.dumps(chart if isinstance(chart, dict) else chart.to_dict(validate=False))
    c1, c2 = st.columns(2)
    png = f"{label} (PNG, {dpi:g} dpi)" if dpi else f"{label} (PNG)"
    c1.download_button(png, data=lambda: chart_image(spec, "png", dpi),
                       file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                       on_click="ignore", width="stretch")
    c2.download_button(f"{label} (SVG)", data=lambda: chart_image(spec, "svg"),
                       file_name=f"{stem}.svg", mime="image/svg+xml", key=f"{key}_svg",
                       on_click="ignore", width="stretch")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ' (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
            return value          # "-0.5" is a number, not a formula
        except ValueError:
            return "'" + value
    return value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with formula-like text cells and headers made inert; numbers untouched."""
    out = frame.copy()
    out.columns = [_inert(str(c)) for c in out.columns]
    for i in range(out.shape[1]):
        if not pd.api.types.is_numeric_dtype(out.dtypes.iloc[i]):
            out.isetitem(i, out.iloc[:, i].map(_inert))
    return out


def deferred_csv(frame: pd.DataFrame):
    """A download payload built only when the button is clicked (no bytes kept per rerun)."""
    return lambda: csv_bytes(frame)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as UTF-8 CSV that is safe to open in a spreadsheet."""
    buf = io.StringIO()
    neutralise(frame).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def forest_labels() -> tuple[str, str, str, str, str, str]:
    """Arm names, favours labels, style and font of the publication forest plot.

    Empty boxes mean the defaults: "Experimental"/"Control", and favours labels that
    follow the arms and the outcome's direction.
    """
    with st.expander("Plot style and labels", icon=":material/tune:"):
        c = st.columns(3)
        c[0].radio("Style", ["journal", "colour"], key="forest_style", horizontal=True,
                   format_func={"journal": "Journal (black & white)", "colour": "Colour"}.get)
        c[1].radio("Font", ["sans", "serif"], key="forest_font", horizontal=True,
                   format_func={"sans": "Sans serif", "serif": "Serif"}.get)
        c = st.columns(4)
        c[0].text_input("Experimental arm", key="arm_t", max_chars=40, placeholder="Experimental")
        c[1].text_input("Control arm", key="arm_c", max_chars=40, placeholder="Control")
        c[2].text_input("Left of the line", key="fav_left", max_chars=40,
                        placeholder="Favours … (automatic)")
        c[3].text_input("Right of the line", key="fav_right", max_chars=40,
                        placeholder="Favours … (automatic)")
    return forest_label_values()


def forest_label_values() -> tuple[str, str, str, str, str, str]:
    """:func:`forest_labels` as set, without drawing the boxes (for the other plots)."""
    s = st.session_state
    arm_t = s.get("arm_t", "").strip() or "Experimental"
    arm_c = s.get("arm_c", "").strip() or "Control"
    left = f"Favours {s.get('arm_t', '').strip() or 'experimental'}"
    right = f"Favours {s.get('arm_c', '').strip() or 'control'}"
    if s.get(state.DIRECTION) == "desirable":
        left, right = right, left
    return (arm_t, arm_c, s.get("fav_left", "").strip() or left,
            s.get("fav_right", "").strip() or right, s.get("forest_style", "journal"),
            s.get("forest_font", "sans"))


def report_html(ref, args: dict) -> bytes:
    """The HTML report of the table behind ``ref`` (built on click: it renders the plot)."""
    try:
        return mc.export.html_report(ref.frame, **args).encode("utf-8")
    except mc.MetacoreError as err:
        return (f"<!DOCTYPE html><meta charset='utf-8'><p>The report could not be built: "
                f"{html.escape(str(err))}</p>").encode()


def report_docx(ref, args: dict) -> bytes:
    """The Word report (built on click: it renders the plot at 300 dpi)."""
    try:
        return mc.export.docx_report(ref.frame, **args)
    except mc.MetacoreError as err:
        import docx

        doc, out = docx.Document(), io.BytesIO()
        doc.add_paragraph(f"The report could not be built: {err}")
        doc.save(out)
        return out.getvalue()
