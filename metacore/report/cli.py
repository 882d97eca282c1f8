"""The ``metacore`` command: one analysis, a report, the R script, many analyses, the dashboard.

::

    metacore analyse TABLE.csv --measure RR --model random --tau2 REML [--ci z] [--level 0.95]
                     [--json]
    metacore report  TABLE.csv -o report.html        (or report.docx)
    metacore rscript TABLE.csv [-o script.R]
    metacore batch   LONG.parquet OUT.parquet --by review ...
    metacore app     [--port 8501]

The table is a CSV (separator sniffed) or an Excel sheet with the dashboard's columns (study,
events_t, n_t, events_c, n_c; means; or ready-made yi with vi or sei ...), read as an upload.
Exit codes: 0 done, 1 the data or analysis could not be used (the message says why), 2 the
command line is wrong.

Here in the report layer because it imports every layer below it. ``batch`` stands beside the
layers, so the report layer cannot import it: ``metacore/__main__.py`` (outside the layers, the
console script's entry point and ``python -m metacore``) adds its subcommand through ``extra``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from metacore._version import __version__
from metacore.errors import MetacoreError

__all__ = ["analyse_record", "main", "metafor_print"]

_MODELS = ("random", "common", "MH", "PETO")
_TAU2 = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
# PoolResult's numbers, in the order the JSON gives them
_FIELDS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low", "pi_high",
           "tau2", "tau", "i2", "h2", "q", "q_df", "q_pvalue", "k", "df", "level")


def _read(path: str) -> pd.DataFrame:
    from metacore.data import io

    p = Path(path)
    if not p.is_file():
        raise MetacoreError(f"There is no file {path!r}.")
    return io.read_table(p.read_bytes(), p.name, max_rows=1_000_000)


def _options(args: argparse.Namespace) -> dict:
    return {"measure": args.measure.upper(), "model": args.model, "tau2_method": args.tau2,
            "ci_method": args.ci, "level": args.level}


def _number(x) -> float | int | None:
    """A JSON number (None for NaN or infinity, which JSON cannot hold)."""
    if x is None:
        return None
    if isinstance(x, (int, bool)) and not isinstance(x, float):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def analyse_record(effects, result) -> dict:
    """The analysis as plain JSON types: every number of the fit (analysis scale), the
    natural-scale estimate and intervals, the settings, and the studies left out.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> rec = analyse_record(eff, mc.pool(eff))
    >>> rec["k"], round(rec["natural"]["estimate"], 4), rec["tau2_method"]
    (13, 0.4894, 'REML')
    """
    rec: dict = {"metacore_version": __version__, "measure": result.measure,
                 "model": result.model, "tau2_method": result.tau2_method,
                 "ci_method": result.ci_method}
    rec.update({f: _number(getattr(result, f)) for f in _FIELDS})
    rec["tau2_ci"] = [_number(result.tau2_ci.low), _number(result.tau2_ci.high)]
    rec["i2_ci"] = [_number(result.i2_ci.low), _number(result.i2_ci.high)]
    rec["natural"] = {k: _number(v) for k, v in result.natural().items()}
    rec["studies"] = list(result.study)
    rec["excluded"] = [{"study": str(x.study), "reason": str(x.reason)}
                       for x in getattr(effects, "excluded", ())]
    rec["notes"] = list(result.notes)
    return rec


def _fmt(x: float, digits: int) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _pval(p: float, digits: int) -> str:
    # metafor's fmtp: below 10^-digits it prints "<.0001"
    if p is None or not math.isfinite(p):
        return "NA"
    return f"<.{'0' * (digits - 1)}1" if p < 10 ** -digits else f"{p:.{digits}f}"


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    return next((s for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, "."))
                 if p < cut), "")


def _table(header: list[str], row: list[str], sep: str = "  ") -> list[str]:
    # right-aligned columns, as R prints them: metafor's model results two spaces apart, a
    # data frame (predict) one space apart after its empty row name
    lead = " " if sep == " " else ""
    widths = [max(len(h), len(c)) for h, c in zip(header, row, strict=True)]
    return [lead + sep.join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
            lead + sep.join(c.rjust(w) for c, w in zip(row, widths, strict=True))]


def metafor_print(result, digits: int = 4) -> str:
    """The fit printed as metafor's ``print(res)`` lays it out, then ``predict(res)`` on the
    natural scale (``transf = exp`` for ratio measures).

    Examples
    --------
    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> print(metafor_print(res).splitlines()[0])   # R: print(rma(yi, vi, data = dat))
    Random-Effects Model (k = 13; tau^2 estimator: REML)
    """
    r = result
    d = digits
    if r.model == "random":
        head = f"Random-Effects Model (k = {r.k}; tau^2 estimator: {r.tau2_method})"
    elif r.model == "common":
        head = f"Equal-Effects Model (k = {r.k})"
    else:
        # rma.mh / rma.peto print as equal-effects models too
        method = {"MH": "Mantel-Haenszel", "PETO": "Peto"}.get(r.model, r.model)
        head = f"Equal-Effects Model (k = {r.k}; {method} method)"
    out = [head, ""]
    if r.model == "random":
        out += [f"tau^2 (estimated amount of total heterogeneity): {_fmt(r.tau2, d)}",
                f"tau (square root of estimated tau^2 value):      {_fmt(r.tau, d)}",
                f"I^2 (total heterogeneity / total variability):   {r.i2:.2f}%",
                f"H^2 (total variability / sampling variability):  {r.h2:.2f}", ""]
    elif r.k > 1 and math.isfinite(r.i2):
        out += [f"I^2 (total heterogeneity / total variability):   {r.i2:.2f}%",
                f"H^2 (total variability / sampling variability):  {r.h2:.2f}", ""]
    if r.k > 1 and math.isfinite(r.q):
        out += ["Test for Heterogeneity:",
                f"Q(df = {r.q_df}) = {_fmt(r.q, d)}, p-val {_pval_eq(r.q_pvalue, d)}", ""]
    stat = "tval" if r.ci_method == "hksj" else "zval"
    out += ["Model Results:", ""]
    header = ["estimate", "se", stat, "pval", "ci.lb", "ci.ub"]
    row = [_fmt(r.estimate, d), _fmt(r.se, d), _fmt(r.statistic, d), _pval(r.pvalue, d),
           _fmt(r.ci_low, d), _fmt(r.ci_high, d)]
    if r.ci_method == "hksj" and r.df is not None:
        header.insert(3, "df")
        row.insert(3, f"{r.df:g}")
    out += _table(header, row)
    out[-1] += f"  {_stars(r.pvalue)}".rstrip()
    nat = r.natural()
    header, row = ["pred", "ci.lb", "ci.ub"], [nat["estimate"], nat["ci_low"], nat["ci_high"]]
    if r.model == "random":
        header += ["pi.lb", "pi.ub"]
        row += [nat["pi_low"], nat["pi_high"]]
    scale = " (exp: the natural scale)" if r.ratio else ""
    out += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", "",
            f"Predicted {r.name}{scale}:", ""]
    out += _table(header, [_fmt(x, d) for x in row], sep=" ")
    if r.notes:
        out += [""] + list(r.notes)
    return "\n".join(out)


def _pval_eq(p: float, digits: int) -> str:
    text = _pval(p, digits)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def _analysis(args: argparse.Namespace):
    from metacore.models.analysis import analysis_of

    effects, result, _ = analysis_of(_read(args.table), **_options(args))
    return effects, result


def _cmd_analyse(args: argparse.Namespace) -> int:
    effects, result = _analysis(args)
    if args.json:
        print(json.dumps(analyse_record(effects, result), indent=2, allow_nan=False))
        return 0
    print(metafor_print(result, args.digits))
    for x in getattr(effects, "excluded", ()):
        print(f"Left out: {x.study}: {x.reason}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from metacore.report import export

    table = _read(args.table)
    out = Path(args.output or Path(args.table).with_suffix(".html").name)
    options = {**_options(args), "title": args.title}
    if out.suffix.lower() == ".docx":
        out.write_bytes(export.docx_report(table, **options))
    else:
        out.write_text(export.html_report(table, **options), encoding="utf-8")
    print(f"Report written to {out}", file=sys.stderr)
    return 0


def _cmd_rscript(args: argparse.Namespace) -> int:
    from metacore.report import export

    code = export.metafor_script(_read(args.table), **_options(args))
    if args.output:
        Path(args.output).write_text(code, encoding="utf-8")
        print(f"R script written to {args.output}", file=sys.stderr)
    else:
        print(code, end="" if code.endswith("\n") else "\n")
    return 0


def _source_checkout(given: str | None) -> Path | None:
    """The source checkout holding the dashboard (app.py, pages/, ui/): ``--source``, else
    the directory above this package when it is run from a checkout."""
    candidates = [Path(given)] if given else [Path(__file__).resolve().parents[2]]
    for root in candidates:
        if (root / "app.py").is_file() and (root / "pages").is_dir() and (root / "ui").is_dir():
            return root
    return None


#: What the dashboard's pages import beyond the engine (the [app] extra brings them all).
APP_MODULES = ("streamlit", "altair", "vl_convert", "openpyxl", "docx", "sqlalchemy", "numba")


def _cmd_app(args: argparse.Namespace) -> int:
    from metacore._extras import EXTRAS, available
    from metacore.errors import MissingExtra

    root = _source_checkout(args.source)
    if root is None:
        where = f"{args.source!r} is not" if args.source else "this installation is not"
        raise MetacoreError(
            f"The dashboard's pages (app.py, pages/, ui/) ship with the source checkout, and "
            f"{where} one: clone the repository and run `make run` there, or pass "
            f"--source DIR pointing at a checkout.")
    command = [sys.executable, "-m", "streamlit", "run", str(root / "app.py"),
               "--server.port", str(args.port)]
    if args.print_command:
        print(" ".join(command))
        return 0
    missing = [EXTRAS[m][0] for m in APP_MODULES if not available(m)]
    if missing:
        raise MissingExtra(f"The dashboard needs {', '.join(missing)}, which "
                           f"{'is' if len(missing) == 1 else 'are'} not installed: "
                           'pip install "metacore[app]"')
    return subprocess.call(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})


def _analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="study table: CSV (separator sniffed) or .xlsx")
    p.add_argument("--measure", default="RR",
                   help="effect measure as metafor's escalc names it (RR OR RD MD SMD ... "
                        "GEN for ready-made yi with vi or sei; default RR)")
    p.add_argument("--model", default="random", choices=_MODELS,
                   help="random or common (inverse variance), MH (Mantel-Haenszel) or PETO")
    p.add_argument("--tau2", default="REML", choices=_TAU2,
                   help="between-study variance estimator (default REML, as metafor)")
    p.add_argument("--ci", default="z", choices=("z", "hksj"),
                   help="z (Wald) or hksj (Hartung-Knapp-Sidik-Jonkman, metafor's test='knha')")
    p.add_argument("--level", type=_level, default=0.95, help="confidence level (default 0.95)")


def _level(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"the level must be between 0 and 1, not {text}")
    return x


def build_parser(extra: Sequence[Callable] = ()) -> argparse.ArgumentParser:
    """The ``metacore`` command's parser (every subcommand has ``--help``); each of ``extra``
    adds a subcommand to the subparsers it is given and sets its ``run``."""
    # usage errors are argparse's: the usage line, one sentence, exit code 2
    ap = argparse.ArgumentParser(prog="metacore",
                 description="Exact, fast meta-analysis (as R's metafor): one analysis, a "
                             "report, the R script, many analyses, the dashboard.",
                 epilog="Exit codes: 0 done, 1 the data or analysis could not be used, "
                        "2 the command line is wrong.")
    ap.add_argument("--version", action="version", version=f"metacore {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    a = sub.add_parser("analyse", aliases=["analyze"], help="one meta-analysis, printed as "
                       "metafor prints it (or --json)",
                       description="Pool one study table and print the fit as metafor's "
                                   "print(rma(...)) lays it out, with the natural-scale "
                                   "estimate (predict).")
    _analysis_options(a)
    a.add_argument("--json", action="store_true", help="every number as JSON instead")
    a.add_argument("--digits", type=int, default=4, help="decimals printed (default 4)")
    a.set_defaults(run=_cmd_analyse)
    r = sub.add_parser("report", help="the analysis as one HTML page (or .docx)",
                       description="Write the report the dashboard downloads: summary, forest "
                                   "plot, results, summary of findings, methods and the R code.")
    _analysis_options(r)
    r.add_argument("-o", "--output", help="report.html or report.docx (default: the table's "
                                          "name with .html, in this directory)")
    r.add_argument("--title", default="Meta-analysis report", help="the report's title")
    r.set_defaults(run=_cmd_report)
    s = sub.add_parser("rscript", help="the R code (metafor) that reproduces the analysis",
                       description="Print R code that rebuilds the table and runs the same "
                                   "escalc and rma with the same settings.")
    _analysis_options(s)
    s.add_argument("-o", "--output", help="write the script here instead of printing it")
    s.set_defaults(run=_cmd_rscript)
    p = sub.add_parser("app", help="start the dashboard (needs the source checkout and "
                                   "metacore[app])",
                       description="Start the Streamlit dashboard from a source checkout "
                                   "(the pages are not part of the installed package).")
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--source", help="the source checkout holding app.py (default: the one this "
                                    "package runs from)")
    p.add_argument("--print-command", action="store_true",
                   help="print the command that starts the dashboard instead of running it")
    p.set_defaults(run=_cmd_app)
    for add in extra:
        add(sub)
    return ap


def main(argv: list[str] | None = None, extra: Sequence[Callable] = ()) -> int:
    """Run the ``metacore`` command; its exit code.

    Examples
    --------
    >>> main(["rscript", "no-such-table.csv"])
    1
    """
    args = build_parser(extra).parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:
        # the reader went away (``metacore analyse t.csv | head``): no message, as Unix tools
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's advice for SIGPIPE
        return 1
    except (MetacoreError, OSError, ValueError) as err:
        # MissingExtra is a MetacoreError: its one line says which extra to install
        print(f"metacore {args.command}: {err}", file=sys.stderr)
        return 1
