"""Write the RevMan 5 test files (tests/reference/revman/*.rm5) from the data in
review_reference.json (written by make_review.R), to RevMan 5's XML format.

``review_full.rm5``: two comparisons, every outcome type (DICH, CONT, IV, IPD = O − E and
variance), subgroups in one outcome, RoB 1 QUALITY_ITEMs (one assessed per outcome group),
and RevMan's stored totals (EFFECT_SIZE, CI_START, CI_END, Z, I2, TAU2, CHI2, DF) on the
outcomes whose method metafor shares (MH/Peto/IV fixed, IV random DL). The SMD and M-H
random outcomes have no stored totals: RevMan 5 uses its own SMD variance and an M-H based
Q for M-H random effects. ``review_small.rm5``: one comparison, one outcome, no subgroups,
no risk of bias. Run from the repository root: python tests/reference/make_revman_files.py
"""

import json
import math
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).parent
REF = json.loads((HERE / "review_reference.json").read_text())
STORE = {"CMP-001.01", "CMP-001.02", "CMP-001.03", "CMP-001.05", "CMP-002.01", "CMP-002.02",
         "CMP-002.03"}
RATIO = {"RR", "OR", "PETO_OR", "Hazard Ratio"}


def attrs(d: dict) -> str:
    return " ".join(f"{k}={quoteattr(str(v))}" for k, v in d.items())


def row(spec: dict, r: dict, order: int) -> str:
    t = spec["type"]
    a = {"ORDER": order, "STUDY_ID": r["study"]}
    if t == "DICH":
        a |= {"EVENTS_1": r["ai"], "TOTAL_1": r["n1i"], "EVENTS_2": r["ci"], "TOTAL_2": r["n2i"]}
    elif t == "CONT":
        a |= {"MEAN_1": r["m1i"], "SD_1": r["sd1i"], "TOTAL_1": r["n1i"], "MEAN_2": r["m2i"],
              "SD_2": r["sd2i"], "TOTAL_2": r["n2i"]}
    elif t == "IV":
        # RevMan stores a generic ratio as displayed (the entered log is exponentiated)
        ratio = spec.get("log") == "YES"
        a |= {"EFFECT_SIZE": repr(math.exp(r["yi"])) if ratio else r["yi"], "SE": r["sei"]}
    else:
        a |= {"O_E": r["oe"], "VAR": r["v"]}
    return f"<{t}_DATA {attrs(a)}/>"


def outcome(key: str, o: dict, no: int) -> str:
    spec = o["spec"]
    t = spec["type"]
    a = {"ID": key, "NO": no, "CI_STUDY": 95, "CI_TOTAL": 95,
         "SUBGROUPS": "YES" if "subgroups" in o else "NO", "TOTALS": "YES"}
    if t != "IPD":
        a |= {"METHOD": spec["method"], "RANDOM": spec["random"]}
    if t in ("DICH", "CONT"):
        a["EFFECT_MEASURE"] = spec["measure"]
    if t == "IV":
        a["LOG_DATA"] = spec["log"]
    if key in STORE:
        ratio = spec["measure"] in RATIO
        f = math.exp if ratio else (lambda x: x)
        a |= {"EFFECT_SIZE": repr(f(o["estimate"])), "CI_START": repr(f(o["ci_low"])),
              "CI_END": repr(f(o["ci_high"])), "Z": repr(abs(o["z"])), "P_Z": repr(o["pvalue"]),
              "I2": repr(o["i2"]), "TAU2": repr(o["tau2"]), "CHI2": repr(o["q"]),
              "DF": o["q_df"], "P_CHI2": repr(o["q_pvalue"])}
    inner = [f"<NAME>{escape(spec['name'])}</NAME>"]
    if t in ("IV", "IPD"):
        inner.append(f"<EFFECT_MEASURE>{escape(spec['measure'])}</EFFECT_MEASURE>")
    inner += ["<GROUP_LABEL_1>Steroid</GROUP_LABEL_1>", "<GROUP_LABEL_2>Placebo</GROUP_LABEL_2>",
              "<GRAPH_LABEL_1>Favours steroid</GRAPH_LABEL_1>",
              "<GRAPH_LABEL_2>Favours placebo</GRAPH_LABEL_2>"]
    if "subgroups" in o:
        for g, name in enumerate(dict.fromkeys(r["subgroup"] for r in o["data"]), start=1):
            rows = [row(spec, r, i) for i, r in enumerate(o["data"], 1) if r["subgroup"] == name]
            inner.append(f'<{t}_SUBGROUP ID="{key}.{g:02d}" NO="{g}"><NAME>{escape(name)}</NAME>'
                         + "".join(rows) + f"</{t}_SUBGROUP>")
    else:
        inner += [row(spec, r, i) for i, r in enumerate(o["data"], 1)]
    return f"<{t}_OUTCOME {attrs(a)}>" + "\n".join(inner) + f"</{t}_OUTCOME>"


ROB = [("QIT-01", "Random sequence generation (selection bias)", "STUDY",
        ["YES", "YES", "UNKNOWN", "YES", "NO", "YES"]),
       ("QIT-02", "Allocation concealment (selection bias)", "STUDY",
        ["YES", "UNKNOWN", "UNKNOWN", "YES", "NO", "YES"]),
       ("QIT-03", "Blinding of participants and personnel (performance bias)", "STUDY",
        ["YES", "NO", "YES", "YES", "NO", "YES"]),
       ("QIT-04", "Blinding of outcome assessment (detection bias)", "GROUP",
        ["YES", "YES", "YES", "UNKNOWN", "NO", "YES"]),
       ("QIT-05", "Incomplete outcome data (attrition bias)", "STUDY",
        ["YES", "YES", "NO", "YES", "UNKNOWN", "YES"]),
       ("QIT-06", "Selective reporting (reporting bias)", "STUDY",
        ["YES", "YES", "YES", "YES", "YES", "UNKNOWN"]),
       ("QIT-07", "Other bias", "STUDY", ["YES", "YES", "YES", "YES", "YES", "YES"])]


def quality_items(ids: list[str]) -> str:
    out = []
    for qid, name, level, results in ROB:
        entries = []
        for sid, res in zip(ids, results, strict=True):
            groups = ["OBJ", "SUBJ"] if level == "GROUP" else [None]
            for g in groups:
                # per outcome group: the subjective outcomes of Diaz 2015 at high risk
                r = "NO" if (g == "SUBJ" and sid == "STD-Diaz-2015") else res
                a = {"RESULT": r, "STUDY_ID": sid} | ({"GROUP_ID": g} if g else {})
                entries.append(f"<QUALITY_ITEM_DATA_ENTRY {attrs(a)}>"
                               f"<DESCRIPTION><P>{escape(name.split(' (')[0])}: judged "
                               f"{r.lower()}.</P></DESCRIPTION></QUALITY_ITEM_DATA_ENTRY>")
        out.append(f'<QUALITY_ITEM CORE_ITEM="YES" ID="{qid}" LEVEL="{level}" NO="{qid[-1]}">'
                   f"<NAME>{escape(name)}</NAME><QUALITY_ITEM_DATA>" + "".join(entries)
                   + "</QUALITY_ITEM_DATA></QUALITY_ITEM>")
    return "<QUALITY_ITEMS>" + "\n".join(out) + "</QUALITY_ITEMS>"


def review(title: str, keys: list[str], rob: bool) -> str:
    ids = [s["id"] for s in REF["studies"]]
    studies = "".join(f'<STUDY DATA_SOURCE="PUB" ID="{s["id"]}" NAME="{s["name"]}" '
                      f'YEAR="{s["year"]}"></STUDY>' for s in REF["studies"])
    comps = {"CMP-001": "Corticosteroid versus placebo", "CMP-002": "Corticosteroid versus "
             "placebo: time-to-event and generic outcomes"}
    body = []
    for c, cname in comps.items():
        mine = [k for k in keys if REF["outcomes"][k]["spec"]["comparison"] == c]
        if not mine:
            continue
        outs = [outcome(k, REF["outcomes"][k], i) for i, k in enumerate(mine, 1)]
        body.append(f'<COMPARISON ID="{c}" NO="{c[-1]}"><NAME>{escape(cname)}</NAME>'
                    + "\n".join(outs) + "</COMPARISON>")
    chars = f"<CHARACTERISTICS_OF_STUDIES>{quality_items(ids)}</CHARACTERISTICS_OF_STUDIES>" \
        if rob else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<COCHRANE_REVIEW DESCRIPTION="Test review written to the RevMan 5 format" '
            'REVMAN_SUB_VERSION="5.4.1" REVMAN_VERSION="5" TYPE="INTERVENTION">\n'
            f"<COVER_SHEET><TITLE>{escape(title)}</TITLE></COVER_SHEET>\n"
            f"<STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>{studies}</INCLUDED_STUDIES>"
            "</STUDIES></STUDIES_AND_REFERENCES>\n" + chars +
            '\n<ANALYSES_AND_DATA CALCULATED_DATA="YES">\n' + "\n".join(body) +
            "\n</ANALYSES_AND_DATA>\n</COCHRANE_REVIEW>\n")


out = HERE / "revman"
out.mkdir(exist_ok=True)
(out / "review_full.rm5").write_text(
    review("Corticosteroids for community-acquired pneumonia (test review)",
           list(REF["outcomes"]), True), encoding="utf-8")
(out / "review_small.rm5").write_text(
    review("A one-outcome review (test)", ["CMP-001.01"], False), encoding="utf-8")
