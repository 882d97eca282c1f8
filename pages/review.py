"""A whole review: comparisons and outcomes, studies, risk of bias, GRADE, the summary of
findings of every comparison and the whole-review report (helpers in ``ui/review.py``)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.report.charts.common import PLOT_SIZED
from metacore.report.charts.rob import rob_summary_chart, traffic_light_chart
from metacore.report.review_report import review_html, superscripts
from metacore.review.grade import DOMAIN_WORDS, DOWN, DOWN_LEVELS, UP, UP_LEVELS
from metacore.review.model import _name
from metacore.review.rob import TOOLS, RobAssessment
from metacore.review.sof import MAX_SOF_OUTCOMES
from ui import controls, review
from ui.page import setup
from ui.text import md

setup()
s = st.session_state


def _key(text: str) -> str:
    """A widget-key fragment from an id (browser tests find keys as CSS classes)."""
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def _say(kind: str, text: str) -> None:
    s["_review_message"] = (kind, text)


# --- callbacks -----------------------------------------------------------------------------

def _create() -> None:
    title = (s.get("new_review_title") or "").strip() or "Untitled review"
    try:
        rev = mc.Review(title).add_comparison("Intervention vs control")
    except mc.MetacoreError as err:
        _say("error", str(err))
        return
    review.close_outcome()
    s[review.REVIEW_ID] = s[review.REVIEW_LINK] = None
    st.query_params.pop("review", None)
    review.set_review(rev)
    _say("success", f"New review “{rev.title}” with one comparison: add its outcomes below.")


def _import() -> None:
    up = s.get("review_file")
    if up is not None:
        review.import_bytes(up.getvalue(), up.name)


def _edit(fn, *args, ok: str = "") -> None:
    """Apply a review edit (a new review; the old one stays in undo)."""
    rev = review.review()
    review.sync()
    rev = review.review()
    try:
        review.set_review(fn(rev, *args))
    except mc.MetacoreError as err:
        _say("error", str(err))
        return
    if ok:
        _say("success", ok)


def _rename_title() -> None:
    text = s.get("review_title", "")
    _edit(lambda r: replace(r, title=_name(text)))


def _add_comparison() -> None:
    name = (s.get("new_comparison") or "").strip()
    if not name:
        _say("error", "Give the comparison a name (e.g. 'Steroid vs placebo').")
        return
    _edit(lambda r: r.add_comparison(name))
    s["new_comparison"] = ""


def _add_outcome(cid: str) -> None:
    k = _key(cid)
    name = (s.get(f"new_outcome_{k}") or "").strip()
    if not name:
        _say("error", "Give the outcome a name (e.g. 'Mortality at 28 days').")
        return
    kind = s.get(f"new_kind_{k}", "binary")
    measure = {"binary": "RR", "continuous": "MD", "generic": "GEN"}[kind]
    method = "MH" if kind == "binary" else "IV"
    _edit(lambda r: r.add_outcome(cid, mc.Outcome("", name, kind, measure, method=method)),
          ok=f"Outcome “{name}” added: open it and enter its studies on the Data page.")
    s[f"new_outcome_{k}"] = ""


def _quick_to_outcome(cid: str) -> None:
    name = (s.get("analysis_name") or s.get("source_name") or "Outcome").strip()[:120]
    try:
        o, table = review.outcome_from_table(
            s["table"], dict(s.get("mapping", {})), name or "Outcome")
    except mc.MetacoreError as err:
        _say("error", str(err))
        return
    rev = review.review().add_outcome(cid, o)
    oid = rev.comparison(cid).outcomes[-1].id
    try:
        rev = rev.with_table(oid, table)
    except mc.MetacoreError as err:
        _say("error", str(err))
        return
    review.set_review(rev)
    review.open_outcome(oid)
    _say("success", f"The quick analysis is now the outcome “{o.name}” of the review.")


def _ask_delete(what: str, ident: str) -> None:
    s["_confirm_delete"] = (what, ident)


def _delete(yes: bool) -> None:
    what, ident = s.pop("_confirm_delete", (None, None))
    if not yes or what is None:
        return
    if what == "comparison":
        _edit(lambda r: r.delete_comparison(ident), ok="Comparison deleted (Undo brings it back).")
    else:
        _edit(lambda r: r.delete_outcome(ident), ok="Outcome deleted (Undo brings it back).")


def _rename(cid: str) -> None:
    """Rename the comparison, or the outcome picked in its rename box."""
    k = _key(cid)
    target, name = s.get(f"rename_pick_{k}"), s.get(f"rename_to_{k}", "")
    if target:
        _edit(lambda r: r.rename_outcome(target, name))
    else:
        _edit(lambda r: r.rename_comparison(cid, name))
    s[f"rename_to_{k}"] = ""


def _rename_study() -> None:
    sid, name = s.get("rename_study_pick"), (s.get("rename_study_name") or "").strip()
    if not sid or not name:
        _say("error", "Choose a study and give its new name.")
        return
    year = (s.get("rename_study_year") or "").strip() or None
    _edit(lambda r: r.rename_study(sid, name, year),
          ok=f"Renamed to “{name}” in every outcome.")
    s["rename_study_name"] = ""


# --- the page --------------------------------------------------------------------------------

st.title("Review")
# Messages and the share link sit in containers that are always drawn: an element that
# comes and goes above the tabs would move them, and the browser would reopen the first tab.
kind, text = s.pop("_review_message", (None, None))
with st.container():
    if kind == "error":
        st.error(md(text), icon=":material/error:")
    elif kind:
        st.success(md(text), icon=":material/check_circle:")
rev = review.review()

with st.expander("Start a new review or import one", expanded=rev is None):
    c1, c2 = st.columns(2)
    c1.text_input("Title of a new review", key="new_review_title", max_chars=300,
                  placeholder="Corticosteroids for sepsis")
    c1.button("Create the review", key="create_review", on_click=_create,
              icon=":material/add:")
    c2.file_uploader("Import a RevMan 5 file (.rm5) or a Cochrane data package (.zip)",
                     type=["rm5", "xml", "zip"], key="review_file", on_change=_import,
                     help="Every comparison, outcome, study and risk-of-bias table of the "
                          "file. A file that cannot be read is refused with the reason and "
                          "nothing of your work changes.")

if rev is None:
    st.info("A review holds comparisons, their outcomes, the studies (each once) with their "
            "risk of bias, and a GRADE rating per outcome. Start one above; the single-table "
            "analysis stays as it is (the quick analysis).", icon=":material/info:")
    st.stop()

# --- title, undo, save ---------------------------------------------------------------------
if s.get("_review_title_of") is not rev:
    s["review_title"] = rev.title
    s["_review_title_of"] = rev
t1, t2, t3, t4 = st.columns([4.4, 0.7, 0.7, 1.9], vertical_alignment="bottom")
t1.text_input("Review title", key="review_title", on_change=_rename_title, max_chars=300)
t2.button("", key="review_undo", icon=":material/undo:", on_click=review.undo,
          disabled=not review.can_undo(), help="Undo the last change to the review",
          width="stretch")
t3.button("", key="review_redo", icon=":material/redo:", on_click=review.redo,
          disabled=not review.can_redo(), help="Redo", width="stretch")
t4.button("Save review", key="save_review", icon=":material/save:", on_click=review.save,
          type="primary", width="stretch",
          help="Saves the whole review as a new version; the link below then opens it.")
with st.container():
    if s.get(review.REVIEW_ID):
        st.caption(f"Share link (version {s.get(review.REVIEW_VERSION)}):")
        st.code(controls.share_link(s[review.REVIEW_ID], "review"), language=None,
                wrap_lines=True)
oid_open = review.open_id()
if oid_open:
    o_open = rev.outcome(oid_open)
    st.info(f"Open in every analysis page: **{md(o_open.name)}** ({o_open.settings}). Edits "
            "there go back into the review.", icon=":material/visibility:")
else:
    st.caption("The analysis pages show the quick analysis (a single table). Open an outcome "
               "below, or pick it in the sidebar.")

tabs = st.tabs(["Comparisons & outcomes", "Studies", "Risk of bias", "GRADE",
                "Summary of findings", "Report"])

# --- the tree --------------------------------------------------------------------------------
with tabs[0]:
    pending = s.get("_confirm_delete")
    if pending:
        what, ident = pending
        label = rev.comparison(ident).name if what == "comparison" and any(
            c.id == ident for c in rev.comparisons) else next(
            (o.name for o in rev.outcomes if o.id == ident), ident)
        st.warning(f"Delete the {what} “{md(label)}”"
                   + (" with all its outcomes" if what == "comparison" else "")
                   + "? Undo brings it back.", icon=":material/delete:")
        d1, d2, _ = st.columns([1, 1, 4])
        d1.button("Delete", key="confirm_delete", on_click=_delete, args=(True,),
                  type="primary")
        d2.button("Cancel", key="cancel_delete", on_click=_delete, args=(False,))
    for ci, c in enumerate(rev.comparisons):
        ck = _key(c.id)
        with st.container(border=True):
            h1, h2, h3, h4 = st.columns([6, 0.6, 0.6, 0.6], vertical_alignment="center")
            h1.markdown(f"**{ci + 1}. {md(c.name)}**")
            h2.button("", key=f"cmp_up_{ck}", icon=":material/arrow_upward:",
                      on_click=_edit, args=(lambda r, i=c.id, p=ci: r.move_comparison(
                          i, p - 1),), disabled=ci == 0, help="Move up")
            h3.button("", key=f"cmp_down_{ck}", icon=":material/arrow_downward:",
                      on_click=_edit, args=(lambda r, i=c.id, p=ci: r.move_comparison(
                          i, p + 1),), disabled=ci == len(rev.comparisons) - 1,
                      help="Move down")
            h4.button("", key=f"cmp_del_{ck}", icon=":material/delete:", on_click=_ask_delete,
                      args=("comparison", c.id), help="Delete the comparison")
            for oi, o in enumerate(c.outcomes):
                ok_ = _key(o.id)
                r1, r2, r3, r4, r5 = st.columns([6, 1.2, 0.6, 0.6, 0.6],
                                                vertical_alignment="center")
                k = sum(r.include for r in o.rows)
                mark = " · **open**" if o.id == oid_open else ""
                r1.markdown(f"{ci + 1}.{oi + 1} {md(o.name)}  \n"
                            f":gray[{o.settings}, {mc.MEASURE_LABELS.get(o.measure, o.measure)}"
                            f", {k} stud{'y' if k == 1 else 'ies'}]{mark}")
                r2.button("Open", key=f"open_{ok_}", on_click=review.open_outcome,
                          args=(o.id,), type="primary" if o.id == oid_open else "secondary",
                          help="Open in every analysis page (forest, subgroups, report …)",
                          width="stretch")
                r3.button("", key=f"up_{ok_}", icon=":material/arrow_upward:", on_click=_edit,
                          args=(lambda r, i=o.id, p=oi: r.move_outcome(i, p - 1),),
                          disabled=oi == 0, help="Move up")
                r4.button("", key=f"down_{ok_}", icon=":material/arrow_downward:",
                          on_click=_edit,
                          args=(lambda r, i=o.id, p=oi: r.move_outcome(i, p + 1),),
                          disabled=oi == len(c.outcomes) - 1, help="Move down")
                r5.button("", key=f"del_{ok_}", icon=":material/delete:", on_click=_ask_delete,
                          args=("outcome", o.id), help="Delete the outcome")
            with st.expander("Add an outcome, rename"):
                a1, a2, a3 = st.columns([3, 2, 1.2], vertical_alignment="bottom")
                a1.text_input("New outcome", key=f"new_outcome_{ck}", max_chars=300,
                              placeholder="Mortality at 28 days")
                a2.selectbox("Data", ["binary", "continuous", "generic"], key=f"new_kind_{ck}",
                             format_func={"binary": "2×2 counts (events / total)",
                                          "continuous": "Means and SDs",
                                          "generic": "Estimates and SEs"}.get)
                a3.button("Add outcome", key=f"add_outcome_{ck}", on_click=_add_outcome,
                          args=(c.id,), width="stretch")
                if oid_open is None:
                    st.button("Add the quick analysis as an outcome here",
                              key=f"quick_to_{ck}", on_click=_quick_to_outcome, args=(c.id,),
                              icon=":material/playlist_add:")
                n1, n2 = st.columns([4, 1.2], vertical_alignment="bottom")
                targets = {"": f"the comparison “{c.name}”",
                           **{o.id: f"outcome “{o.name}”" for o in c.outcomes}}
                n1.selectbox("Rename", list(targets), key=f"rename_pick_{ck}",
                             format_func=targets.get)
                n1.text_input("New name", key=f"rename_to_{ck}", max_chars=300)
                n2.button("Rename", key=f"rename_{ck}", width="stretch", on_click=_rename,
                          args=(c.id,))
    b1, b2 = st.columns([4, 1.2], vertical_alignment="bottom")
    b1.text_input("New comparison", key="new_comparison", max_chars=300,
                  placeholder="Steroid vs placebo")
    b2.button("Add comparison", key="add_comparison", on_click=_add_comparison,
              width="stretch")

# --- studies ------------------------------------------------------------------------------------
with tabs[1]:
    uses = {sid: [] for sid in (x.id for x in rev.studies)}
    for o in rev.outcomes:
        for r in o.rows:
            uses.setdefault(r.study_id, []).append(o.name)
    st.dataframe(pd.DataFrame({
        "Study": [x.name for x in rev.studies], "Year": [x.year for x in rev.studies],
        "Outcomes": [len(uses.get(x.id, [])) for x in rev.studies],
        "Id": [x.id for x in rev.studies]}), hide_index=True, width="stretch")
    if rev.studies:
        f1, f2, f3, f4 = st.columns([3, 3, 1, 1.2], vertical_alignment="bottom")
        names = {x.id: x.name for x in rev.studies}
        f1.selectbox("Study", list(names), key="rename_study_pick", format_func=names.get)
        f2.text_input("New name", key="rename_study_name", max_chars=300)
        f3.text_input("Year", key="rename_study_year", max_chars=10)
        f4.button("Rename everywhere", key="rename_study", on_click=_rename_study,
                  width="stretch")

# --- risk of bias -------------------------------------------------------------------------------
with tabs[2]:
    tool_key = st.selectbox("Tool", list(TOOLS), key="rob_tool",
                            format_func=lambda t: TOOLS[t].name)
    tool = TOOLS[tool_key]
    outcome_ids = [o.id for o in rev.outcomes]
    onames = {o.id: o.name for o in rev.outcomes}
    rob_oid = ""
    if outcome_ids:
        if s.get("rob_outcome") not in outcome_ids:
            s["rob_outcome"] = oid_open or outcome_ids[0]
        rob_oid = st.selectbox("Outcome (RoB 2 judges each result; the weights of every "
                               "tool come from this outcome's analysis)", outcome_ids,
                               key="rob_outcome", format_func=onames.get)
    per = rob_oid if tool.per_result else ""
    current = {a.study_id: a for a in rev.rob_table(tool_key, per, weights=False).assessments}
    cols = [f"D{j}" for j in range(1, len(tool.domains) + 1)]
    grid = pd.DataFrame([{"Study": x.name,
                          **{c: (current[x.id].domains[j].level if x.id in current else None)
                             for j, c in enumerate(cols)},
                          "Overall": (current[x.id].overall.level
                                      if x.id in current and current[x.id].overridden
                                      else "Suggested"),
                          "Reason for override": (current[x.id].override_reason
                                                  if x.id in current else "")}
                         for x in rev.studies])
    st.caption(" · ".join(f"**D{j}** {d}" for j, d in enumerate(tool.domains, start=1)))
    version = s.get("_rob_grid_version", 0)
    edited = st.data_editor(
        grid, key=f"rob_grid_{tool_key}_{_key(per)}_{version}", hide_index=True,
        width="stretch", disabled=["Study"],
        column_config={**{c: st.column_config.SelectboxColumn(c, options=list(tool.levels))
                          for c in cols},
                       "Overall": st.column_config.SelectboxColumn(
                           "Overall", options=["Suggested", *tool.levels],
                           help="'Suggested' takes the tool's algorithm; another judgement "
                                "needs a reason")})

    def _save_grid(frame: pd.DataFrame) -> None:
        ids = {x.name: x.id for x in rev.studies}
        new = review.review()
        try:
            for rec in frame.to_dict("records"):
                levels = [rec.get(c) for c in cols]
                if all(v is None or v != v for v in levels):
                    continue
                if any(v is None or v != v for v in levels):
                    raise mc.DataError(f"Study '{rec['Study']}': judge every domain "
                                       f"(D1–D{len(cols)}) or none.")
                overall = rec.get("Overall")
                new = new.with_rob(RobAssessment.build(
                    ids[rec["Study"]], tool_key, levels,
                    overall=None if overall in (None, "Suggested") else overall,
                    reason=str(rec.get("Reason for override") or ""), outcome_id=per))
        except mc.MetacoreError as err:
            _say("error", str(err))
            return
        review.set_review(new)
        s["_rob_grid_version"] = version + 1
        _say("success", f"{tool.name} judgements saved.")

    g1, g2 = st.columns([1.5, 4])
    g1.button("Save the judgements", key="rob_save", on_click=_save_grid, args=(edited,),
              type="primary")
    with g2.expander("Or paste / upload a robvis table", icon=":material/upload:"):
        st.caption("Columns Study, D1…Dk, Overall (and Weight, ignored: the weights come from "
                   "the outcome's analysis), as robvis takes them; studies by the review's "
                   "names.")
        st.text_area("robvis table (CSV)", key="rob_paste", height=140)
        st.file_uploader("robvis table (CSV)", type=["csv", "txt"], key="rob_upload")

        def _robvis(text: str | None = None) -> None:
            up = s.get("rob_upload")
            raw = text if text is not None else (up.getvalue().decode("utf-8", "replace")
                                                 if up is not None else "")
            if not raw.strip():
                return
            try:
                frame = pd.read_csv(io.StringIO(raw), sep=None, engine="python")
                new = review.review().with_robvis(frame, tool_key, per)
            except (mc.MetacoreError, ValueError, pd.errors.ParserError) as err:
                _say("error", f"The robvis table was not read: {err}")
                return
            review.set_review(new)
            s["_rob_grid_version"] = version + 1
            _say("success", f"{tool.name} judgements read for {len(frame)} studies.")

        st.button("Read the pasted table", key="rob_paste_apply",
                  on_click=lambda: _robvis(s.get("rob_paste", "")))
        st.button("Read the uploaded file", key="rob_upload_apply", on_click=_robvis)
    table = None
    if current:
        try:
            table = rev.rob_table(tool_key, rob_oid)
        except mc.MetacoreError:
            table = rev.rob_table(tool_key, per, weights=False)
    if table is not None and table.assessments:
        p1, p2 = st.columns(2)
        # keyed containers: browser tests find the plots by their class
        # their own size ("content"): stretched, the plots lost their rows' height; the
        # domain names are cut shorter so the summary fits a phone
        with p1.container(key="rob_traffic"):
            st.altair_chart(traffic_light_chart(table, width=240).properties(
                autosize=PLOT_SIZED).configure_legend(orient="bottom", columns=2),
                width="content", theme=None)
        with p2.container(key="rob_summary"):
            st.altair_chart(rob_summary_chart(table, width=170, label_limit=140).properties(
                autosize=PLOT_SIZED).configure_legend(orient="bottom", columns=2),
                width="content", theme=None)
        overrides = [a for a in table.assessments if a.overridden]
        for a in overrides:
            st.caption(f":material/edit: {md(rev.study(a.study_id).name)}: overall "
                       f"{a.overall.level} (the algorithm suggests {a.suggestion}) — "
                       f"{md(a.override_reason)}")
        if rob_oid:
            st.subheader("Sensitivity analysis by risk of bias")
            rows = []
            o = rev.outcome(rob_oid)
            for label, fit in (("All studies", lambda: o.analyse()),
                               ("Low risk of bias only",
                                lambda: rev.sensitivity(rob_oid, tool_key, "low")),
                               ("Excluding high risk of bias",
                                lambda: rev.sensitivity(rob_oid, tool_key, "not_high"))):
                try:
                    res = fit()
                    nat = res.natural()
                    rows.append({"Analysis": label, "Studies": res.k,
                                 res.name: f"{nat['estimate']:.2f} ({nat['ci_low']:.2f} to "
                                           f"{nat['ci_high']:.2f})",
                                 "I²": f"{res.i2_q:.0f}%"})
                except mc.MetacoreError as err:
                    rows.append({"Analysis": label, "Studies": 0, "I²": "", "Note": str(err)})
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                         key="rob_sensitivity")
    else:
        st.caption("No judgements with this tool yet.")

# --- GRADE --------------------------------------------------------------------------------------
with tabs[3]:
    if not rev.outcomes:
        st.caption("Add an outcome first.")
    else:
        if s.get("grade_outcome") not in outcome_ids:
            s["grade_outcome"] = oid_open or outcome_ids[0]
        g_oid = st.selectbox("Outcome", outcome_ids, key="grade_outcome",
                             format_func=onames.get)
        gk = _key(g_oid)
        grade = rev.grade(g_oid) or mc.Grade(g_oid)
        tools_used = [t for t in TOOLS if rev.rob_table(t, g_oid if TOOLS[t].per_result
                                                        else "", weights=False).assessments]
        try:
            sugg = {x.domain: x for x in rev.suggestions(
                g_oid, tool=tools_used[0] if tools_used else None)}
        except mc.MetacoreError as err:
            sugg = {}
            st.warning(f"No suggestions: {err}", icon=":material/warning:")
        if s.get("_grade_of") != (g_oid, grade):
            # the widgets show the outcome's rating as saved
            s["_grade_of"] = (g_oid, grade)
            s[f"grade_design_{gk}"] = grade.design
            for d in (*DOWN, *UP):
                s[f"g_{d}_{gk}"] = grade.level(d)
                s[f"g_note_{d}_{gk}"] = next((r.footnote for r in grade.ratings
                                              if r.domain == d), "")

        def _take(d: str) -> None:
            x = sugg[d]
            s[f"g_{d}_{gk}"] = x.level
            s[f"g_note_{d}_{gk}"] = x.reason

        st.radio("Study design (where certainty starts)", ["randomised", "observational"],
                 key=f"grade_design_{gk}", horizontal=True)
        st.caption("Each suggestion comes from the data; nothing is applied until you confirm. "
                   "A judgement other than 'no' needs a footnote.")
        for d in DOWN:
            with st.container(border=True):
                x = sugg.get(d)
                c1, c2, c3 = st.columns([2.2, 3, 1.3], vertical_alignment="center")
                c1.radio(DOMAIN_WORDS[d], list(DOWN_LEVELS), key=f"g_{d}_{gk}",
                         horizontal=True)
                if x is not None:
                    c2.caption(f"Suggested: **{x.level}**. {md(x.reason)}")
                    c3.button("Take the suggestion", key=f"g_take_{d}_{gk}", on_click=_take,
                              args=(d,), disabled=not x.assessable)
                elif d in ("indirectness",):
                    c2.caption("The data cannot tell: the team's judgement.")
                st.text_input("Footnote", key=f"g_note_{d}_{gk}", max_chars=300,
                              label_visibility="collapsed",
                              placeholder=f"Footnote for {DOMAIN_WORDS[d].lower()}")
        with st.expander("Rating up (observational evidence)"):
            for d in UP:
                u1, u2 = st.columns([2, 3])
                u1.radio(DOMAIN_WORDS[d], list(UP_LEVELS[d]), key=f"g_{d}_{gk}",
                         horizontal=True)
                u2.text_input("Footnote", key=f"g_note_{d}_{gk}", max_chars=300)

        def _confirm() -> None:
            g = mc.Grade(g_oid, s[f"grade_design_{gk}"])
            try:
                for d in (*DOWN, *UP):
                    level, note = s[f"g_{d}_{gk}"], (s.get(f"g_note_{d}_{gk}") or "").strip()
                    x = sugg.get(d)
                    if x is not None and x.assessable and level != x.level and not note:
                        raise mc.OptionError(f"{DOMAIN_WORDS[d]}: rated '{level}' against the "
                                             f"suggested '{x.level}' — give a footnote saying "
                                             "why.")
                    g = g.with_rating(d, level, note)
            except mc.MetacoreError as err:
                _say("error", str(err))
                return
            _edit(lambda r: r.with_grade(g),
                  ok=f"GRADE confirmed for “{onames[g_oid]}”: {g.symbol}.")

        st.button("Confirm GRADE", key="grade_confirm", on_click=_confirm, type="primary")
        saved = rev.grade(g_oid)
        st.markdown(f"Certainty of the evidence: **{saved.symbol if saved else 'not rated'}**")
        for note in (saved.footnotes if saved else ()):
            st.caption(note)

# --- summary of findings ------------------------------------------------------------------------
with tabs[4]:
    for c in rev.comparisons:
        if not c.outcomes:
            continue
        ck = _key(c.id)
        st.subheader(c.name)
        names = {o.id: o.name for o in c.outcomes}
        default = list(names)[:MAX_SOF_OUTCOMES]
        pick = s.get(f"sof_pick_{ck}")
        # the comparison's outcomes in order until the team chooses otherwise
        if pick is None or pick == s.get(f"_sof_default_{ck}") or any(
                x not in names for x in pick):
            s[f"sof_pick_{ck}"] = default
        s[f"_sof_default_{ck}"] = default
        picks = st.multiselect("Outcomes in the table, in order (at most 7, as GRADE advises)",
                               list(names), key=f"sof_pick_{ck}", format_func=names.get,
                               max_selections=MAX_SOF_OUTCOMES)
        if not picks:
            continue
        try:
            summary = mc.review_summary(rev, c.id, picks)
        except mc.MetacoreError as err:
            st.warning(f"No table: {err}", icon=":material/warning:")
            continue
        with st.container(key=f"sof_table_{ck}"):
            # a static table: its text wraps, so the certainty and comments columns show
            frame = summary.to_frame().set_index("Outcome")
            col = "Certainty of the evidence (GRADE)"
            st.table(frame.assign(**{col: frame[col].map(superscripts)}))
            for i, note in enumerate(summary.footnotes, start=1):
                st.caption(f"{i}. {note}")

# --- report ---------------------------------------------------------------------------------------
with tabs[5]:

    st.caption("One self-contained HTML page (it works offline): the summary-of-findings "
               "tables, every outcome's forest plot with its risk-of-bias columns, the "
               "risk-of-bias plots, the methods and one R script reproducing every outcome.")
    sof_picks = {c.id: s.get(f"sof_pick_{_key(c.id)}") for c in rev.comparisons}
    digest = hashlib.sha256((mc.review_to_json(rev) + repr(sof_picks)).encode()).hexdigest()
    if st.button("Build the report", key="build_review_report", icon=":material/description:"):
        with st.spinner("Drawing every outcome's forest plot …"):
            try:
                s["_review_report"] = (digest, review_html(rev, sof_outcomes=sof_picks))
            except mc.MetacoreError as err:
                st.error(f"The report could not be built: {err}", icon=":material/error:")
    built = s.get("_review_report")
    if built and built[0] == digest:
        st.download_button("Download the whole-review report (HTML)", built[1],
                           file_name="review-report.html", mime="text/html",
                           key="review_report", icon=":material/download:")
        st.download_button("Download the review (project file, JSON)", mc.review_to_json(rev),
                           file_name="review.json", mime="application/json",
                           key="review_json")
