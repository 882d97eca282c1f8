"""Hand an analysis on: the R code that reproduces it with metafor, a results record
with the settings in its columns, and a self-contained HTML report (also as Word)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC

import pandas as pd

from metacore.data.table import standardize
from metacore.errors import MetacoreError, OptionError
from metacore.models.analysis import analysis_of
from metacore.models.effects import BINARY_MEASURES, CONTINUOUS_MEASURES

__all__ = ["Report", "build_report", "docx_report", "html_report", "methods_text",
           "metafor_script", "results_record"]

_R_COLUMNS = {"binary": ("ai", "events_t", "n1i", "n_t", "ci", "events_c", "n2i", "n_c"),
              "continuous": ("m1i", "mean_t", "sd1i", "sd_t", "n1i", "n_t", "m2i", "mean_c",
                             "sd2i", "sd_c", "n2i", "n_c")}


def _r_string(text: object) -> str:
    """An R string literal (backslashes, quotes and control characters escaped)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    s = "".join(ch if ch >= " " else f"\\x{ord(ch):02x}" for ch in s)
    return f'"{s}"'


def _r_number(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))      # counts read as counts
    # A short decimal carrying floating-point noise (0.1 ** 2 = 0.010000000000000002) is
    # written as the decimal it stands for: at 15 significant digits (what a double always
    # holds) it needs at most 12, so the noise was in the last one or two digits and R reads
    # a value within 1 part in 10^15 of ours. Any other number is written as repr, the
    # shortest text that reads back as exactly the same double.
    short = f"{x:.15g}"
    digits = len(short.split("e")[0].replace("-", "").replace(".", "").strip("0"))
    return short if digits <= 12 else repr(x)


def _vector(values, fn) -> str:
    return "c(" + ", ".join(fn(v) for v in values) + ")"


def metafor_script(table: pd.DataFrame, *, measure: str = "RR", model: str = "random",
                   tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                   cc: float = 0.5, cc_to: str = "only0", drop00: bool = False,
                   mapping: Mapping[object, str | None] | None = None,
                   leave_out: Sequence[int] = (), scale: str | None = None,
                   label: str = "") -> str:
    """R code that rebuilds ``table`` as edited, runs the same ``escalc`` and ``rma`` /
    ``rma.mh`` / ``rma.peto`` with the same settings and leaves the fit in ``res``.

    Ready-made effects are written on the scale they are analysed on (log ratios for
    ratios, see :func:`metacore.data.table.generic_scale`), with their variances.

    ``leave_out`` holds 1-based row numbers left out by the what-if picker; rows whose
    include box is unticked are left out too (``subset``).

    Examples
    --------
    >>> import metacore as mc
    >>> code = metafor_script(mc.datasets.load("bcg"), measure="RR")
    >>> "rma(yi, vi, data = dat, subset = include" in code
    True
    """
    measure = measure.upper()
    if model not in ("random", "common", "MH", "PETO"):
        raise OptionError(f"Unknown model '{model}'.")
    st = standardize(table, mapping)
    d = st.data
    include = d["include"].to_numpy(bool) & ~d["row"].isin(list(leave_out)).to_numpy()
    from metacore._version import __version__

    lines = [f"# metacore {__version__}: the analysis as run in the dashboard, for R's metafor",
             "library(metafor)", "dat <- data.frame("]
    cols = [f"  study = {_vector(d['study'], _r_string)}"]
    if measure in BINARY_MEASURES:
        kind = "binary"
    elif measure in CONTINUOUS_MEASURES:
        kind = "continuous"
    else:
        kind = "generic"
    ratio_out = measure in ("OR", "RR", "PETO", "ROM")
    if kind == "generic":
        from metacore.data.table import generic_scale
        from metacore.models.effects import compute_effects

        if scale is None:
            scale = generic_scale(st)[0]
        ratio_out = scale != "linear"
        everyone = dataclasses.replace(st, data=d.assign(include=True))
        eff = compute_effects(everyone, "GEN", scale=scale, label=label)
        yi_of = dict(zip(eff.rows, eff.yi, strict=True))
        vi_of = dict(zip(eff.rows, eff.vi, strict=True))
        rows = d["row"].tolist()
        note = " (log ratios)" if ratio_out else ""
        lines.insert(2, f"# yi: the effects as analysed{note}; vi: their sampling variances")
        cols += [f"  yi = {_vector([yi_of.get(r, math.nan) for r in rows], _r_number)}",
                 f"  vi = {_vector([vi_of.get(r, math.nan) for r in rows], _r_number)}"]
    else:
        names = _R_COLUMNS[kind]
        for r_name, canon in zip(names[::2], names[1::2], strict=True):
            cols.append(f"  {r_name} = {_vector(d[canon], _r_number)}")
    cols.append(f"  include = {_vector(include, lambda b: 'TRUE' if b else 'FALSE')}")
    lines.append(",\n".join(cols))
    lines.append(")")
    pct = f"{100 * level:g}"
    to = {"only0": "only0", "all": "all", "if0all": "if0all", "none": "none"}[cc_to]
    if model in ("MH", "PETO"):
        call = "rma.mh" if model == "MH" else "rma.peto"
        mm = f', measure = "{measure}"' if model == "MH" else ""
        lines.append(f"res <- {call}(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat{mm}, "
                     f"subset = include, add = {cc!r}, to = \"{to}\", "
                     f"drop00 = {'TRUE' if drop00 else 'FALSE'}, level = {pct}, slab = study)")
    else:
        if kind == "binary":
            esc = (f'escalc(measure = "{measure}", ai = ai, n1i = n1i, ci = ci, n2i = n2i, '
                   f'data = dat, add = {cc!r}, to = "{to}", '
                   f"drop00 = {'TRUE' if drop00 else 'FALSE'}, slab = study)")
        elif kind == "continuous":
            esc = (f'escalc(measure = "{measure}", m1i = m1i, sd1i = sd1i, n1i = n1i, '
                   "m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat, slab = study)")
        else:
            esc = 'escalc(measure = "GEN", yi = yi, vi = vi, data = dat, slab = study)'
        lines.append(f"dat <- {esc}")
        method = "FE" if model == "common" else tau2_method
        test = {"hksj": "knha", "hksj-adhoc": "adhoc"}.get(ci_method, "z")
        if ci_method in _META_ADHOC:
            test = "knha"
        lines.append(f'res <- rma(yi, vi, data = dat, subset = include, method = "{method}", '
                     f'test = "{test}", level = {pct})')
        if ci_method in _META_ADHOC:
            lines += _meta_adhoc_lines(ci_method, pct, ratio_out)
            return "\n".join(lines) + "\n"
    lines += ["res", "predict(res, transf = exp)" if ratio_out else "predict(res)"]
    return "\n".join(lines) + "\n"


# meta's adhoc.hakn.ci variants are not in metafor: the script reproduces them from rma fits.
_META_ADHOC = {"hksj-se": "se", "hksj-ci": "ci", "hksj-iqwig6": "IQWiG6"}


_HKSJ_WORDS = {
    "hksj-adhoc": "with its scale factor floored at 1, so that the interval is never narrower "
                  "than the Wald interval (modified HKSJ; metafor's test = \"adhoc\")",
    "hksj-se": "with its standard error floored at the Wald standard error (meta's "
               "adhoc.hakn.ci = \"se\")",
    "hksj-ci": "or the Wald interval when that is wider (meta's adhoc.hakn.ci = \"ci\")",
    "hksj-iqwig6": "with the Wald standard error whenever its interval is narrower than the "
                   "DerSimonian–Laird Wald interval (IQWiG 2020; meta's adhoc.hakn.ci = "
                   "\"IQWiG6\")",
}


def _meta_adhoc_lines(ci_method: str, pct: str, ratio_out: bool) -> list[str]:
    """R lines that turn the HKSJ fit ``res`` into meta's adhoc.hakn.ci variant."""
    rule = {
        "hksj-se": ["# HKSJ standard error floored at the Wald one, t(k - 1) (the same interval "
                    "as metafor's test = \"adhoc\")",
                    "se <- if (hk$se < wald$se) wald$se else hk$se; crit <- tcrit"],
        "hksj-ci": ["# the wider of the HKSJ interval and the Wald (z) interval",
                    "wider <- tcrit * hk$se < zcrit * wald$se",
                    "se <- if (wider) wald$se else hk$se; crit <- if (wider) zcrit else tcrit"],
        "hksj-iqwig6": ["# the Wald standard error with t(k - 1) when the HKSJ interval is "
                        "narrower than the DerSimonian-Laird Wald interval (IQWiG 2020)",
                        "dl <- update(res, method = \"DL\", test = \"z\")",
                        "se <- if (tcrit * hk$se < zcrit * dl$se) wald$se else hk$se; "
                        "crit <- tcrit"],
    }[ci_method]
    back = "exp" if ratio_out else "identity"
    return [
        f'# meta: metagen(yi, sqrt(vi), method.random.ci = "HK", adhoc.hakn.ci = '
        f'"{_META_ADHOC[ci_method]}") -- meta is not needed: these lines reproduce it.',
        "hk <- res; wald <- update(res, test = \"z\")",
        f"alpha <- 1 - {pct} / 100",
        "tcrit <- qt(1 - alpha / 2, res$k - 1); zcrit <- qnorm(1 - alpha / 2)",
        *rule,
        "est <- as.numeric(res$beta)",
        f"ci <- {back}(est + c(-1, 1) * crit * se)",
        "pval <- if (crit == zcrit) 2 * pnorm(-abs(est / se)) else "
        "2 * pt(-abs(est / se), res$k - 1)",
        "# prediction interval: meta's default method.predict = \"V\" (t(k - 1), Wald SE)",
        f"pi <- {back}(est + c(-1, 1) * tcrit * sqrt(wald$se^2 + res$tau2))",
        f"c(estimate = {back}(est), ci.lb = ci[1], ci.ub = ci[2], pval = pval, "
        "pi.lb = pi[1], pi.ub = pi[2])",
    ]


def results_record(effects, result, *, cc: float | None = None,
                   cc_to: str | None = None, drop00: bool | None = None) -> pd.DataFrame:
    """The results as a record: one row per statistic and per study, with values on the
    analysis scale and (for ratios) the natural scale side by side, and the settings
    (measure, model, estimator, CI method, level, continuity correction, version) in
    columns of every row.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> rec = results_record(eff, mc.pool(eff))
    >>> row = rec[rec["statistic"] == "estimate"].iloc[0]
    >>> round(float(row["natural"]), 4), row["tau2_method"], float(row["level"])
    (0.4894, 'REML', 0.95)
    """
    import numpy as np
    from scipy import special

    from metacore._version import __version__

    t = result.transform
    result.natural()
    rows: list[dict] = []

    def add(section: str, statistic: str, value: float, lo: float = math.nan,
            hi: float = math.nan, natural: bool = False, **extra) -> None:
        row = {"section": section, "statistic": statistic, "value": value, "ci_low": lo,
               "ci_high": hi}
        if natural and result.ratio:
            row |= {"natural": float(t(value)), "natural_ci_low": float(t(lo)),
                    "natural_ci_high": float(t(hi))}
        elif natural:
            row |= {"natural": value, "natural_ci_low": lo, "natural_ci_high": hi}
        rows.append(row | extra)

    add("pooled", "estimate", result.estimate, result.ci_low, result.ci_high, True,
        se=result.se)
    if result.model == "random" and result.k >= 2:
        add("pooled", "prediction_interval", result.estimate, result.pi_low, result.pi_high,
            True)
    stat = "t" if result.df is not None and np.isfinite(result.df) else "z"
    add("test", stat, result.statistic, df=result.df, pvalue=result.pvalue)
    add("heterogeneity", "tau2", result.tau2, result.tau2_ci.low, result.tau2_ci.high)
    add("heterogeneity", "tau", result.tau, result.tau_ci.low, result.tau_ci.high)
    add("heterogeneity", "I2_percent", result.i2, result.i2_ci.low, result.i2_ci.high)
    add("heterogeneity", "H2", result.h2, result.h2_ci.low, result.h2_ci.high)
    add("heterogeneity", "Q", result.q, df=float(result.q_df), pvalue=result.q_pvalue)
    add("heterogeneity", "I2_Q_percent", result.i2_q)
    add("pooled", "k", float(result.k))
    z = float(special.ndtri(0.5 + result.level / 2))
    weights = np.asarray(result.weights, float) if result.k == effects.k else \
        np.full(effects.k, np.nan)
    for i in range(effects.k):
        y, v = float(effects.yi[i]), float(effects.vi[i])
        add("study", "effect", y, y - z * math.sqrt(v), y + z * math.sqrt(v), True,
            study=effects.study[i], row=effects.rows[i] if effects.rows else i + 1,
            se=math.sqrt(v), variance=v, weight_percent=float(weights[i]))
    for (name, reason), row in zip(effects.excluded, effects.excluded_rows, strict=True):
        rows.append({"section": "excluded", "statistic": "", "study": name, "row": row,
                     "note": reason})
    frame = pd.DataFrame(rows)
    cols = ["section", "statistic", "study", "row", "value", "ci_low", "ci_high", "natural",
            "natural_ci_low", "natural_ci_high", "se", "variance", "weight_percent", "df",
            "pvalue", "note"]
    frame = frame.reindex(columns=cols)
    settings = {"measure": result.measure, "measure_name": result.name,
                "scale": "log (natural = exp)" if result.ratio else "linear",
                "model": result.model, "tau2_method": result.tau2_method or "",
                "ci_method": result.ci_method, "level": result.level,
                "cc": effects.cc if cc is None else cc,
                "cc_to": effects.cc_to if cc_to is None else cc_to,
                "drop00": effects.drop00 if drop00 is None else drop00,
                "metacore_version": __version__}
    return frame.assign(**settings)


# --- methods, with citations ----------------------------------------------------------------

REFERENCES = {
    "cochran": "Cochran WG (1954). The combination of estimates from different experiments. "
               "Biometrics 10:101-129.",
    "dl": "DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled "
          "Clinical Trials 7:177-188.",
    "reml": "Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators "
            "in the random-effects model. J Educ Behav Stat 30:261-293.",
    "pm": "Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur "
          "Stand 87:377-385.",
    "he": "Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis. Academic Press.",
    "hs": "Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis, 2nd ed. Sage.",
    "sj": "Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for "
          "meta-analysis. J R Stat Soc C 54:367-384.",
    "eb": "Morris CN (1983). Parametric empirical Bayes inference: theory and applications. "
          "J Am Stat Assoc 78:47-55.",
    "hksj": "Hartung J, Knapp G (2001). A refined method for the meta-analysis of controlled "
            "clinical trials with binary outcome. Stat Med 20:3875-3889; Sidik K, Jonkman JN "
            "(2002). A simple confidence interval for meta-analysis. Stat Med 21:3153-3159.",
    "mh": "Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from "
          "retrospective studies of disease. J Natl Cancer Inst 22:719-748.",
    "peto": "Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and "
            "after myocardial infarction. Prog Cardiovasc Dis 27:335-371.",
    "hedges": "Hedges LV (1981). Distribution theory for Glass's estimator of effect size and "
              "related estimators. J Educ Stat 6:107-128.",
    "i2": "Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. "
          "Stat Med 21:1539-1558.",
    "qprofile": "Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity "
                "in meta-analysis. Stat Med 26:37-52.",
    "pi": "Riley RD, Higgins JPT, Deeks JJ (2011). Interpretation of random effects "
          "meta-analyses. BMJ 342:d549.",
    "metafor": "Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. "
               "J Stat Softw 36(3):1-48.",
    "nnt": "Altman DG (1998). Confidence intervals for the number needed to treat. BMJ "
           "317:1309-1312.",
    "grade": "Guyatt GH et al. (2011). GRADE guidelines: 1. Introduction - GRADE evidence "
             "profiles and summary of findings tables. J Clin Epidemiol 64:383-394.",
}
_TAU2_REF = {"DL": "dl", "REML": "reml", "ML": "reml", "PM": "pm", "HE": "he", "HS": "hs",
             "SJ": "sj", "EB": "eb"}
_SHORT_CITE = {"dl": "DerSimonian & Laird 1986", "reml": "Viechtbauer 2005",
               "pm": "Paule & Mandel 1982", "he": "Hedges & Olkin 1985",
               "hs": "Hunter & Schmidt 2004", "sj": "Sidik & Jonkman 2005", "eb": "Morris 1983"}
_TAU2_NAME = {"DL": "DerSimonian–Laird", "REML": "restricted maximum-likelihood",
              "ML": "maximum-likelihood", "PM": "Paule–Mandel", "HE": "Hedges",
              "HS": "Hunter–Schmidt", "SJ": "Sidik–Jonkman", "EB": "empirical Bayes"}


def methods_text(effects, result) -> tuple[str, list[str]]:
    """A methods paragraph for the analysis and the keys of the references it cites.

    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> text, refs = methods_text(eff, mc.pool(eff))
    >>> "restricted maximum-likelihood estimator of τ² (Viechtbauer 2005)" in text
    True
    """
    cites: list[str] = []

    def cite(key: str, short: str) -> str:
        if key not in cites:
            cites.append(key)
        return short

    name = result.name.lower()
    level = f"{result.level * 100:g}%"
    parts = [f"Studies were combined on the {name} scale"
             + (" (analysed as log ratios and reported back-transformed)" if result.ratio
                else "") + "."]
    missing = _not_estimable_words(effects)
    if missing:
        parts.append(missing)
    if result.measure in ("SMD",):
        parts.append(f"Standardised mean differences were corrected for small-sample bias "
                     f"(Hedges' g; {cite('hedges', 'Hedges 1981')}).")
    if result.measure in ("OR", "RR", "RD", "PETO") and result.model not in ("MH", "PETO"):
        if effects.cc_applied.any():
            parts.append(f"A continuity correction of {effects.cc:g} was added to every cell "
                         f"of the 2×2 tables of {int(effects.cc_applied.sum())} "
                         f"{'study' if effects.cc_applied.sum() == 1 else 'studies'} "
                         "with a zero cell.")
    if result.model == "MH":
        parts.append(f"The pooled estimate is the Mantel–Haenszel common-effect estimate "
                     f"({cite('mh', 'Mantel & Haenszel 1959')}).")
    elif result.model == "PETO":
        parts.append(f"The pooled estimate is Peto's one-step odds ratio "
                     f"({cite('peto', 'Yusuf et al. 1985')}).")
    elif result.model == "common":
        parts.append("A common-effect (fixed-effect) inverse-variance model was fitted.")
    else:
        tm = result.tau2_method or "REML"
        short = _SHORT_CITE[_TAU2_REF[tm]]
        parts.append(f"A random-effects inverse-variance model was fitted with the "
                     f"{_TAU2_NAME[tm]} estimator of τ² ({cite(_TAU2_REF[tm], short)}).")
    if result.ci_method == "hksj":
        parts.append(f"The {level} confidence interval and test use the Hartung–Knapp–"
                     f"Sidik–Jonkman method (t distribution with k − 1 degrees of freedom; "
                     f"{cite('hksj', 'Hartung & Knapp 2001; Sidik & Jonkman 2002')}).")
    elif result.ci_method in _HKSJ_WORDS:
        parts.append(f"The {level} confidence interval and test use the Hartung–Knapp–"
                     f"Sidik–Jonkman method "
                     f"({cite('hksj', 'Hartung & Knapp 2001; Sidik & Jonkman 2002')}) "
                     f"{_HKSJ_WORDS[result.ci_method]}.")
    elif result.model not in ("MH", "PETO"):
        parts.append(f"The {level} confidence interval and test use the normal distribution "
                     "(Wald).")
    parts.append(f"Heterogeneity was assessed with Cochran's Q ({cite('cochran', 'Cochran 1954')})"
                 f" and I² ({cite('i2', 'Higgins & Thompson 2002')})"
                 + (f", with Q-profile confidence intervals for τ² "
                    f"({cite('qprofile', 'Viechtbauer 2007')})" if result.model == "random"
                    else "") + ".")
    if result.model == "random" and result.k >= 3:
        parts.append(f"The {level} prediction interval gives the range of true effects "
                     f"expected in a new study ({cite('pi', 'Riley et al. 2011')}).")
    parts.append(f"Analyses were run in metacore, whose results are validated against the R "
                 f"package metafor ({cite('metafor', 'Viechtbauer 2010')}); the R code that "
                 "reproduces them is given below.")
    return " ".join(parts), cites


# --- the report -----------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 Helvetica,Arial,sans-serif;color:#111;max-width:1040px;margin:2em auto;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #ccc}.meta{color:#555}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.forest svg{max-width:100%;height:auto}.summary{background:#f4f6fa;padding:.8em 1em;
border-left:4px solid #1d4ed8}pre{background:#f6f6f6;padding:1em;overflow-x:auto;
font-size:.85em}.refs li{margin-bottom:.3em}
@media print{body{margin:0}pre{white-space:pre-wrap}}
"""


def _table_html(frame: pd.DataFrame, numeric: Sequence[str] = ()) -> str:
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            cls = ' class="n"' if c in numeric else ""
            cells.append(f"<td{cls}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


@dataclass(frozen=True)
class Report:
    """The content of a report, rendered by :func:`html_report` and :func:`docx_report`."""

    title: str
    meta: str
    summary: str
    forest_spec: dict
    results: pd.DataFrame
    notes: tuple[str, ...]
    sof: pd.DataFrame | None
    sof_note: str
    studies: pd.DataFrame
    numeric: tuple[str, ...]
    settings: pd.DataFrame
    methods: str
    references: tuple[str, ...]
    script: str


def build_report(table: pd.DataFrame, *, measure: str = "RR", model: str = "random",
                 tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                 cc: float = 0.5, cc_to: str = "only0", drop00: bool = False,
                 mapping: Mapping[object, str | None] | None = None,
                 leave_out: Sequence[int] = (), scale: str | None = None, label: str = "",
                 title: str = "Meta-analysis report", outcome: str = "Outcome",
                 source: str = "", arms: tuple[str, str] = ("Experimental", "Control"),
                 favours: tuple[str, str] | None = None, style: str = "journal",
                 font: str = "sans", sort: str = "input", show_pi: bool = True,
                 assumed_risk: float | None = None, direction: str = "undesirable",
                 certainty: str = "not rated", units: str = "") -> Report:
    """Everything a report says about one analysis (the arguments of :func:`html_report`)."""
    from datetime import datetime

    from metacore._version import __version__
    from metacore.numbers import format_effect, format_number, format_p
    from metacore.report.charts.revman import heterogeneity_line, overall_line, publication_forest
    from metacore.report.describe import describe
    from metacore.review.sof import summary_of_findings

    effects, result, shadow = analysis_of(
        table, measure=measure, model=model, tau2_method=tau2_method, ci_method=ci_method,
        level=level, cc=cc, cc_to=cc_to, drop00=drop00, mapping=mapping,
        leave_out=leave_out, scale=scale, label=label)
    if favours is None:
        favours = (f"Favours {arms[0]}", f"Favours {arms[1]}")
        if direction == "desirable":
            favours = favours[::-1]
    spec = publication_forest(effects, result, shadow=shadow, style=style, font=font,
                              arms=arms, favours=favours, sort=sort, show_pi=show_pi,
                              width=1000).to_dict(validate=False)
    nat = result.natural()
    lvl = f"{result.level * 100:g}%"
    meta = (f"Outcome: {outcome}" + (f" · Data: {source}" if source else "")
            + f" · {result.k} {'study' if result.k == 1 else 'studies'} analysed · "
            f"metacore {__version__} · {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    rows = [("Pooled estimate", f"{format_effect(nat['estimate'])} ({lvl} CI "
                                f"{format_effect(nat['ci_low'])} to "
                                f"{format_effect(nat['ci_high'])})"),
            ("Test for overall effect", overall_line(result).split(": ", 1)[1])]
    if result.model == "random" and result.k >= 2:
        rows.append((f"{lvl} prediction interval", f"{format_effect(nat['pi_low'])} to "
                                                    f"{format_effect(nat['pi_high'])}"))
    rows += [("Heterogeneity", heterogeneity_line(result).split(": ", 1)[1])]
    if result.model == "random":
        rows += [("τ² (Q-profile CI)", f"{format_number(result.tau2)} "
                                        f"({format_number(result.tau2_ci.low)} to "
                                        f"{format_number(result.tau2_ci.high)})"),
                 ("I² (CI)", f"{result.i2:.1f}% ({result.i2_ci.low:.1f}% to "
                             f"{result.i2_ci.high:.1f}%)")]
    rows += [("H²", format_number(result.h2)), ("Q-test p", format_p(result.q_pvalue))]
    sof_frame, sof_note = None, ""
    try:
        sof = summary_of_findings(effects, result, outcome=outcome, assumed_risk=assumed_risk,
                                  direction=direction, certainty=certainty, units=units)
        sof_frame = sof.to_frame()
        if sof.kind == "binary":
            sof_note = (f"Assumed control risk: {sof.assumed_source}. The risk with the "
                        "intervention and its interval come from the relative effect applied "
                        "to it; NNT after Altman (1998).")
    except MetacoreError as err:
        sof_note = str(err)
    studies, numeric = _studies_table(effects, result)
    settings = [("Effect measure", f"{result.name} ({result.measure})"),
                ("Model", result.settings), ("Continuity correction", _cc_words(effects)),
                ("Studies left out by hand", ", ".join(str(r) for r in leave_out) or "none")]
    text, cites = methods_text(effects, result)
    cites += [k for k in ("nnt", "grade") if k not in cites]
    script = metafor_script(table, measure=measure, model=model, tau2_method=tau2_method,
                            ci_method=ci_method, level=level, cc=cc, cc_to=cc_to,
                            drop00=drop00, mapping=mapping, leave_out=leave_out, scale=scale,
                            label=label)
    return Report(title=title, meta=meta, summary=describe(result, show_pi=show_pi),
                  forest_spec=spec, results=pd.DataFrame(rows, columns=["", result.name]),
                  notes=tuple(result.notes), sof=sof_frame, sof_note=sof_note,
                  studies=studies, numeric=tuple(numeric),
                  settings=pd.DataFrame(settings, columns=["", "value"]), methods=text,
                  references=tuple(REFERENCES[k] for k in cites), script=script)


def html_report(table: pd.DataFrame, *, forest_svg: str | None = None, **options) -> str:
    """One self-contained HTML page reporting the analysis: summary, forest plot (inline
    SVG), results, heterogeneity, summary of findings, the data, the settings, a methods
    paragraph with references, and the R code that reproduces it.

    ``options`` are those of :func:`build_report` (measure, model, tau2_method,
    ci_method, level, cc, cc_to, drop00, mapping, leave_out, scale, label, title,
    outcome, source, arms, favours, style, font, sort, show_pi, assumed_risk,
    direction, certainty, units). The page makes no request to any other host (no
    scripts, fonts or images from elsewhere), and every user text (study names, titles,
    labels) is escaped. ``forest_svg`` may pass a plot already rendered.

    Examples
    --------
    >>> import metacore as mc
    >>> page = html_report(mc.datasets.load("bcg"), measure="RR", forest_svg="<svg></svg>")
    >>> page.startswith("<!DOCTYPE html>") and "Test for overall effect" in page
    True
    """
    from html import escape as e

    rep = build_report(table, **options)
    if forest_svg is None:
        from metacore.report.render import to_image

        forest_svg = to_image(rep.forest_spec, "svg").decode("utf-8")
    # vl-convert escapes text inside the SVG; strip anything that could run or fetch
    forest_svg = _inert_svg(forest_svg)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # no request may leave the page, whatever it contains
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; img-src data:">',
           f"<title>{e(rep.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(rep.title)}</h1>", f'<p class="meta">{e(rep.meta)}</p>',
           f'<p class="summary">{e(rep.summary)}</p>',
           "<h2>Forest plot</h2>", f'<div class="forest">{forest_svg}</div>',
           "<h2>Results</h2>", _table_html(rep.results)]
    if rep.notes:
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in rep.notes) + "</ul>")
    out.append("<h2>Summary of findings</h2>")
    if rep.sof is not None:
        out.append(_table_html(rep.sof))
    if rep.sof_note:
        out.append(f"<p>{e(rep.sof_note)}</p>")
    out += ["<h2>Studies</h2>", _table_html(rep.studies, rep.numeric),
            "<h2>Settings</h2>", _table_html(rep.settings),
            "<h2>Methods</h2>", f"<p>{e(rep.methods)}</p>", "<h3>References</h3>",
            '<ol class="refs">' + "".join(f"<li>{e(r)}</li>" for r in rep.references)
            + "</ol>",
            "<h2>Reproduce in R (metafor)</h2>", f"<pre>{e(rep.script)}</pre>",
            "</body></html>"]
    return "\n".join(out)


def _docx_text(text: object) -> str:
    """Text Word can hold: XML forbids most control characters."""
    return "".join(ch for ch in str(text) if ch in "\t\n" or ord(ch) >= 32)


def docx_report(table: pd.DataFrame, *, forest_png: bytes | None = None, **options) -> bytes:
    """The report of :func:`html_report` as a Word document (python-docx): the same
    sections, the forest plot as a 300 dpi picture, tables as Word tables.

    Examples
    --------
    >>> import metacore as mc
    >>> data = docx_report(mc.datasets.load("bcg"), measure="RR", forest_png=b"")
    >>> data[:2] == b"PK"
    True
    """
    import io

    from metacore._extras import need

    docx = need("docx", "The Word report")
    from docx.shared import Inches, Pt

    rep = build_report(table, **options)
    doc = docx.Document()
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(10)
    doc.add_heading(_docx_text(rep.title), level=0)
    doc.add_paragraph(_docx_text(rep.meta)).runs[0].italic = True
    doc.add_paragraph(_docx_text(rep.summary))
    doc.add_heading("Forest plot", level=1)
    if forest_png is None:
        from metacore.report.render import to_image

        forest_png = to_image(rep.forest_spec, "png", dpi=300)
    if forest_png:
        doc.add_picture(io.BytesIO(forest_png), width=Inches(6.5))

    def table_of(frame: pd.DataFrame) -> None:
        t = doc.add_table(rows=1, cols=len(frame.columns))
        t.style = "Light Grid Accent 1"
        for cell, name in zip(t.rows[0].cells, frame.columns, strict=True):
            cell.text = _docx_text(name)
        for _, row in frame.iterrows():
            cells = t.add_row().cells
            for cell, value in zip(cells, row, strict=True):
                empty = value is None or (isinstance(value, float) and math.isnan(value))
                cell.text = "" if empty else _docx_text(value)

    doc.add_heading("Results", level=1)
    table_of(rep.results)
    for note in rep.notes:
        doc.add_paragraph(_docx_text(note), style="List Bullet")
    doc.add_heading("Summary of findings", level=1)
    if rep.sof is not None:
        table_of(rep.sof)
    if rep.sof_note:
        doc.add_paragraph(_docx_text(rep.sof_note))
    doc.add_heading("Studies", level=1)
    table_of(rep.studies)
    doc.add_heading("Settings", level=1)
    table_of(rep.settings)
    doc.add_heading("Methods", level=1)
    doc.add_paragraph(_docx_text(rep.methods))
    doc.add_heading("References", level=2)
    for ref in rep.references:
        doc.add_paragraph(_docx_text(ref), style="List Number")
    doc.add_heading("Reproduce in R (metafor)", level=1)
    code = doc.add_paragraph()
    run = code.add_run(_docx_text(rep.script))
    run.font.name = "Courier New"
    run.font.size = Pt(8)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _inert_svg(svg: str) -> str:
    """The SVG without scripts, event handlers or external references."""
    import re

    svg = re.sub(r"<script\b.*?</script>", "", svg, flags=re.S | re.I)
    svg = re.sub(r"\s(on\w+)=\"[^\"]*\"", "", svg, flags=re.I)
    return re.sub(r"(href|src)=\"(?!#)[^\"]*\"", r'\1=""', svg, flags=re.I)


_CC_WORDS = {"only0": "to the cells of studies with a zero cell",
             "all": "to every cell of every study", "if0all": "to every study if any has a "
             "zero cell", "none": "never"}
_ARM_COLUMNS = {"binary": ("events_t", "n_t", "events_c", "n_c"),
                "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")}


def _cc_words(effects) -> str:
    if effects.measure not in ("OR", "RR", "RD", "AS", "PETO"):
        return "not applicable"
    if effects.cc_to == "none" or effects.cc == 0:
        return "none"
    return f"{effects.cc:g} added {_CC_WORDS.get(effects.cc_to, effects.cc_to)}"


def _not_estimable_words(effects) -> str:
    """One sentence on the trials that give no estimate (RevMan's "Not estimable"), or ""."""
    from metacore.review.sof import not_estimable

    gone = not_estimable(effects)
    if gone.empty:
        return ""
    whys = []
    for _, r in gone.iterrows():
        if {"events_t", "events_c"} <= set(gone.columns) and r["events_t"] == 0 \
                and r["events_c"] == 0:
            whys.append("no events in either arm")
        elif {"events_t", "events_c", "n_t", "n_c"} <= set(gone.columns) \
                and r["events_t"] == r["n_t"] and r["events_c"] == r["n_c"]:
            whys.append("every participant had the event in both arms")
        else:
            whys.append("no usable estimate or variance")
    counts = pd.Series(whys).value_counts()
    why = "; ".join(f"{n} with {w}" if len(counts) > 1 else w for w, n in counts.items())
    n = len(gone)
    trials = "trial was" if n == 1 else "trials were"
    rule = (" (double-zero studies are set to be dropped)"
            if getattr(effects, "drop00", False) else "")
    return (f"{n} {trials} not estimable ({why}){rule}: they carry no weight in the pooled "
            "estimate, and their participants are counted in the summary of findings.")


def _studies_table(effects, result) -> tuple[pd.DataFrame, list[str]]:
    """The studies as analysed: their data, effect with CI (natural scale) and weight,
    then the rows left out with the reason."""
    from scipy import special

    from metacore.numbers import format_effect

    z = float(special.ndtri(0.5 + result.level / 2))
    kind = "binary" if effects.measure in ("OR", "RR", "RD", "AS", "PETO") else \
        "continuous" if effects.measure in ("MD", "SMD", "SMDH", "ROM") else "generic"
    cols = [c for c in _ARM_COLUMNS.get(kind, ()) if c in effects.data]
    weights = list(result.weights) if result.k == effects.k else [math.nan] * effects.k
    rows = []
    for i in range(effects.k):
        y, se = float(effects.yi[i]), math.sqrt(float(effects.vi[i]))
        t = result.transform
        row = {"Row": effects.rows[i] if effects.rows else i + 1, "Study": effects.study[i]}
        for c in cols:
            v = effects.data[c].iat[i]
            row[c] = f"{v:g}" if isinstance(v, float) and math.isfinite(v) else ""
        row[f"{result.name} [{result.level * 100:g}% CI]"] = (
            f"{format_effect(float(t(y)))} [{format_effect(float(t(y - z * se)))}, "
            f"{format_effect(float(t(y + z * se)))}]")
        row["Weight"] = f"{weights[i]:.1f}%" if math.isfinite(weights[i]) else ""
        rows.append(row)
    # Excluded rows keep their counts; the not-estimable ones say so, as RevMan prints them.
    extra = effects.excluded_data
    by_row = ({int(r): i for i, r in enumerate(extra["row"])} if "row" in extra else {})
    effect_col = f"{result.name} [{result.level * 100:g}% CI]"
    for (name, reason), r in zip(effects.excluded, effects.excluded_rows, strict=True):
        row = {"Row": r, "Study": name, "Weight": "", "Note": reason}
        if r in by_row:
            src = extra.iloc[by_row[r]]
            for c in cols:
                v = src.get(c)
                row[c] = f"{float(v):g}" if _is_number(v) else ""
            if bool(src.get("include", False)):
                row[effect_col] = "Not estimable"
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "Note" not in frame:
        frame["Note"] = ""
    frame = frame.fillna("")
    return frame, ["Row", *cols, "Weight"]


def _is_number(v: object) -> bool:
    import numbers

    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))
