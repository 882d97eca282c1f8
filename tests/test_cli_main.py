"""The ``metacore`` command: every subcommand, its exit codes, the printout against metafor's
(tests/reference/cli_reference.json, from tests/reference/make_cli.R) and --json against pool."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import metacore as mc
from metacore import _extras
from metacore.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "metacore" / "data" / "datasets" / "bcg.csv"
REFERENCE = json.loads((ROOT / "tests" / "reference" / "cli_reference.json").read_text())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:       # argparse: --help (0) and usage errors (2)
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", [[], ["analyse"], ["report"], ["rscript"], ["batch"],
                                     ["app"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and out.startswith("usage: metacore")


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"metacore {mc.__version__}"


@pytest.mark.parametrize("argv", [[], ["analyse"], ["nonsense", str(BCG)],
                                  ["analyse", str(BCG), "--level", "2"],
                                  ["analyse", str(BCG), "--model", "mixed"],
                                  ["analyse", str(BCG), "--tau2", "XX"]])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage: metacore" in err


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: " ".join(c["args"]))
def test_analyse_prints_as_metafor(capsys, case):
    code, out, _ = run(capsys, "analyse", BCG, *case["args"])
    assert code == 0
    ours = [line.rstrip() for line in out.splitlines()]
    theirs = [line.rstrip() for line in case["print"] + case["predict"] if line.strip()]
    for line in theirs:
        if line.startswith("tau^2 "):
            # metafor adds the standard error of tau^2, which metacore does not estimate
            assert line.split(" (SE")[0] in ours
        elif line.startswith("Signif. codes"):
            assert line in ours
        else:
            assert line in ours, f"metafor's line {line!r} is not in:\n{out}"


@pytest.mark.parametrize("args, settings", [
    (["--measure", "RR"], {"measure": "RR"}),
    (["--measure", "OR", "--tau2", "DL", "--ci", "hksj", "--level", "0.9"],
     {"measure": "OR", "tau2_method": "DL", "ci_method": "hksj", "level": 0.9}),
    (["--measure", "RD", "--model", "common"], {"measure": "RD", "model": "common"}),
])
def test_analyse_json_equals_pool(capsys, args, settings):
    code, out, _ = run(capsys, "analyse", BCG, *args, "--json")
    assert code == 0
    got = json.loads(out)
    fit = {k: v for k, v in settings.items() if k != "measure"}
    eff = mc.compute_effects(mc.datasets.load("bcg"), settings["measure"])
    res = mc.pool(eff, **fit)
    for name in ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low",
                 "pi_high", "tau2", "tau", "i2", "h2", "q", "q_pvalue", "level"):
        want = float(getattr(res, name))
        assert (got[name] is None and not math.isfinite(want)) or got[name] == want, name
    assert got["k"] == res.k == 13 and got["q_df"] == res.q_df
    assert got["natural"] == pytest.approx(res.natural(), abs=0, rel=0)
    assert got["measure"] == settings["measure"] and got["studies"] == list(res.study)


def test_analyse_mantel_haenszel_equals_pool_mh(capsys):
    code, out, _ = run(capsys, "analyse", BCG, "--measure", "OR", "--model", "MH", "--json")
    res = mc.pool_mh(mc.datasets.load("bcg"), "OR")
    assert code == 0 and json.loads(out)["estimate"] == res.estimate
    code, out, _ = run(capsys, "analyse", BCG, "--measure", "OR", "--model", "MH")
    assert "Equal-Effects Model (k = 13; Mantel-Haenszel method)" in out


def test_analyse_names_the_studies_left_out(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("study,events_t,n_t,events_c,n_c\nA,4,123,11,139\nB,6,306,29,303\n"
                     "C <b>,3,231,11,220\nD,,10,2,10\n")
    code, out, _ = run(capsys, "analyse", table, "--json")
    rec = json.loads(out)
    assert code == 0 and rec["k"] == 3
    assert [x["study"] for x in rec["excluded"]] == ["D"]
    code, out, _ = run(capsys, "analyse", table)
    assert code == 0 and "Left out: D:" in out


@pytest.mark.parametrize("content, words", [
    (None, "There is no file"),
    ("colour,shape\nred,round\n", ""),
])
def test_data_errors_exit_1(tmp_path, capsys, content, words):
    path = tmp_path / "table.csv"
    if content is not None:
        path.write_text(content)
    for command in ("analyse", "report", "rscript"):
        code, out, err = run(capsys, command, path, "-o", tmp_path / "x.html") \
            if command != "analyse" else run(capsys, command, path)
        assert code == 1 and out == "", command
        assert err.startswith(f"metacore {command}: ") and words in err
        assert "Traceback" not in err


def test_rscript_prints_the_metafor_code(tmp_path, capsys):
    code, out, _ = run(capsys, "rscript", BCG, "--tau2", "PM", "--ci", "hksj")
    assert code == 0
    assert out == mc.export.metafor_script(mc.datasets.load("bcg"), measure="RR",
                                           tau2_method="PM", ci_method="hksj")
    assert 'method = "PM"' in out and 'test = "knha"' in out
    code, _, _ = run(capsys, "rscript", BCG, "-o", tmp_path / "a.R")
    assert code == 0 and "rma(" in (tmp_path / "a.R").read_text()


def test_report_writes_html_and_word(tmp_path, capsys, monkeypatch):
    page = tmp_path / "report.html"
    code, _, err = run(capsys, "report", BCG, "-o", page, "--title", "BCG <trial>")
    assert code == 0 and "Report written" in err
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "BCG &lt;trial&gt;" in html and "BCG <trial>" not in html
    # the Word report's 300 dpi PNG takes long to draw; its plot is tested with export's tests
    import metacore.report.render as render

    monkeypatch.setattr(render, "to_image", lambda spec, fmt, **kw: b"")
    doc = tmp_path / "report.docx"
    code, _, _ = run(capsys, "report", BCG, "-o", doc)
    assert code == 0 and doc.read_bytes()[:2] == b"PK"


def test_a_missing_extra_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    real = _extras.available
    monkeypatch.setattr(_extras, "available", lambda m: m != "vl_convert" and real(m))
    code, _, err = run(capsys, "report", BCG, "-o", tmp_path / "r.html")
    assert code == 1
    assert err.strip() == ('metacore report: Charts as PNG or SVG needs vl-convert-python, which '
                           'is not installed: pip install "metacore[report]"')


def test_app_runs_streamlit_on_the_checkout(capsys, tmp_path):
    code, out, _ = run(capsys, "app", "--print-command", "--port", "8600")
    assert code == 0
    assert out.split()[1:4] == ["-m", "streamlit", "run"]
    assert out.split()[4] == str(ROOT / "app.py") and out.split()[-1] == "8600"
    code, _, err = run(capsys, "app", "--source", tmp_path)
    assert code == 1 and "source checkout" in err and "--source" in err


def test_batch_errors(tmp_path, capsys):
    code, _, err = run(capsys, "batch", tmp_path / "none.csv", tmp_path / "out.csv",
                       "--by", "review")
    assert code == 1 and err.startswith("metacore batch: ")
    code, _, err = run(capsys, "batch", tmp_path / "none.csv", tmp_path / "out.csv")
    assert code == 2 and "--by" in err


def test_module_and_command_run_the_same_main():
    out = subprocess.run([sys.executable, "-m", "metacore", "analyse", str(BCG), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    assert json.loads(out.stdout)["estimate"] == res.estimate


def test_batch_pools_each_group_as_pool(tmp_path, capsys):
    import pandas as pd

    bcg = mc.datasets.load("bcg")
    long = pd.concat([bcg.assign(review="all"), bcg.iloc[:5].assign(review="first five")])
    path, out = tmp_path / "long.csv", tmp_path / "out.csv"
    long.to_csv(path, index=False)
    code, _, err = run(capsys, "batch", path, out, "--by", "review", "--measure", "RR")
    assert code == 0 and "2 meta-analyses written" in err
    got = pd.read_csv(out).set_index("review")
    for name, rows in (("all", bcg), ("first five", bcg.iloc[:5])):
        want = mc.pool(mc.compute_effects(rows, "RR"))
        assert got.loc[name, "estimate"] == pytest.approx(want.estimate, rel=1e-10)
        assert got.loc[name, "tau2"] == pytest.approx(want.tau2, rel=1e-8)


def test_app_names_what_the_dashboard_lacks(capsys, monkeypatch):
    real = _extras.available
    monkeypatch.setattr(_extras, "available",
                        lambda m: m not in ("streamlit", "numba") and real(m))
    code, _, err = run(capsys, "app")
    assert code == 1
    assert err.strip() == ('metacore app: The dashboard needs streamlit, numba, which are not '
                           'installed: pip install "metacore[app]"')
