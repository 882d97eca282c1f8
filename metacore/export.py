"""Hand an analysis on: the R code that reproduces it with metafor."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from metacore.effects import BINARY_MEASURES, CONTINUOUS_MEASURES
from metacore.errors import OptionError
from metacore.table import standardize

__all__ = ["metafor_script"]

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
    return repr(float(x))


def _vector(values, fn) -> str:
    return "c(" + ", ".join(fn(v) for v in values) + ")"


def metafor_script(table: pd.DataFrame, *, measure: str = "RR", model: str = "random",
                   tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                   cc: float = 0.5, cc_to: str = "only0", drop00: bool = False,
                   mapping: Mapping[object, str | None] | None = None,
                   leave_out: Sequence[int] = ()) -> str:
    """R code that rebuilds ``table`` as edited, runs the same ``escalc`` and ``rma`` /
    ``rma.mh`` / ``rma.peto`` with the same settings and leaves the fit in ``res``.

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
    from metacore import __version__

    lines = [f"# metacore {__version__}: the analysis as run in the dashboard, for R's metafor",
             "library(metafor)", "dat <- data.frame("]
    cols = [f"  study = {_vector(d['study'], _r_string)}"]
    if measure in BINARY_MEASURES:
        kind = "binary"
    elif measure in CONTINUOUS_MEASURES:
        kind = "continuous"
    else:
        kind = "generic"
    if kind == "generic":
        yi = d["yi"]
        if "sei" in d and d["sei"].notna().any():
            se = d["sei"]
        elif "vi" in d and d["vi"].notna().any():
            se = d["vi"] ** 0.5
        else:
            se = (d["ci_high"] - d["ci_low"]) / (2 * 1.959963984540054)
        cols += [f"  yi = {_vector(yi, _r_number)}", f"  sei = {_vector(se, _r_number)}"]
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
            esc = 'escalc(measure = "GEN", yi = yi, sei = sei, data = dat, slab = study)'
        lines.append(f"dat <- {esc}")
        method = "FE" if model == "common" else tau2_method
        test = "knha" if ci_method == "hksj" else "z"
        lines.append(f'res <- rma(yi, vi, data = dat, subset = include, method = "{method}", '
                     f'test = "{test}", level = {pct})')
    lines += ["res", "predict(res, transf = exp)" if measure in ("OR", "RR", "PETO", "ROM")
              else "predict(res)"]
    return "\n".join(lines) + "\n"
